//! Ingestion: practice extracts in, checked rows into the warehouse.
//!
//! Every row is checked; a row that fails a named check is quarantined with
//! its file, line and a reason a person can act on — never silently dropped.
//! A source's files are loaded in one Delta commit, and a load ledger records
//! each file's content hash so loading the same files again changes nothing.

#[cfg(test)]
mod fuzz;
mod read;
mod records;
mod shape;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, Int64Array, Int64Builder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use peerbench_warehouse::{Warehouse, WarehouseError};
use sha2::{Digest, Sha256};
use tracing::Instrument;

pub use read::{
    BATCH_ROWS, FileStats, MAX_LINE_BYTES, is_practice_code, read_file, read_stream, schema_for,
};
pub use records::MAX_QUOTED_LINES;
pub use shape::{BUILTIN_SHAPES, ColumnKind, ColumnSpec, DateFormat, Shape, builtin, header_key};

pub const QUARANTINE_TABLE: &str = "quarantine";
pub const LEDGER_TABLE: &str = "load_ledger";
/// Every load's set-aside rows, by source and the table version the load
/// committed: the `quarantine` table is rebuilt from it, so rows set aside by
/// a load survive a later run that fails, is refused or is killed.
pub const QUARANTINE_LOG_TABLE: &str = "quarantine_log";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: the file is empty")]
    EmptyFile { file: String },
    #[error("{file}: this is not a text file (it contains NUL bytes); expected a CSV extract")]
    NotText { file: String },
    #[error(
        "{file}: no header line found for source {source_name:?} in the first 30 lines; \
         closest line lacks {missing:?} (expected columns such as {expected:?})"
    )]
    NoHeader {
        file: String,
        source_name: String,
        missing: Vec<String>,
        expected: Vec<String>,
    },
    #[error(
        "{file}:{line}: column {column:?} (column {position}) holds {what}; peerbench loads aggregate counts only, so this file was not loaded: remove the column at source and send the file again"
    )]
    PatientIdentifiers {
        file: String,
        line: usize,
        column: String,
        position: usize,
        what: &'static str,
    },
    #[error(
        "{file}:{line}: a line longer than {limit} bytes (a broken export?); extract lines are a few hundred bytes, so the file was not loaded"
    )]
    LineTooLong {
        file: String,
        line: usize,
        limit: usize,
    },
    #[error(
        "{file}:{line}: the file could not be read to its end ({reason}), so none of it was loaded"
    )]
    Stream {
        file: String,
        line: usize,
        reason: String,
    },
    #[error(
        "{file}: this is an Excel workbook; peerbench reads CSV extracts: save the sheet as CSV (UTF-8) from Excel, or ask for the CSV release of the publication"
    )]
    Spreadsheet { file: String },
    #[error(
        "cannot read extracts at {location}: {reason} (S3 settings come from the AWS_* environment variables; see docs/operations.md)"
    )]
    Remote { location: String, reason: String },
    #[error("{file}: not a valid gzip file ({reason})")]
    BadGzip { file: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source {source_name:?}: file pattern {pattern:?} is not valid: {reason}")]
    BadPattern {
        source_name: String,
        pattern: String,
        reason: String,
    },
    #[error("source {source_name:?}: no files match {pattern:?}")]
    NoFiles {
        source_name: String,
        pattern: String,
    },
    #[error(
        "source {source_name:?}: {rejected} of {read} rows failed their checks, above the limit of {limit_pct}% (max_rejected_pct) — the source was not loaded. {why}"
    )]
    TooManyRejected {
        source_name: String,
        rejected: usize,
        read: usize,
        limit_pct: f64,
        /// The commonest checks and a first example, so the message is actionable.
        why: String,
    },
    #[error(
        "{file}: {read} rows were read but {accounted} are accounted for (loaded or set aside); the file was not loaded. This is a bug in peerbench: please report it with the file"
    )]
    Unbalanced {
        file: String,
        read: usize,
        accounted: usize,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("query engine error: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error("internal error while building rows: {0}")]
    Internal(String),
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// The named row checks. Names are stable: reports and users filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// A quoted field that never closes: its line is set aside and the
    /// lines after it are read as rows.
    UnbalancedQuote,
    FieldCount,
    RequiredMissing,
    PracticeCodeFormat,
    UnknownPractice,
    NotACount,
    NegativeCount,
    NotANumber,
    BadDate,
    NumeratorAboveDenominator,
    /// Another row of the same file has the same key.
    DuplicateKey,
    /// A period before 1990 or after the current month.
    PeriodOutOfRange,
    /// The whole file could not be read (empty, binary, no header).
    UnreadableFile,
    /// The file carries patient-level identifiers and was refused whole.
    PatientIdentifiers,
    /// A line too long to be an extract's: the file was not loaded.
    LineTooLong,
    /// A file in a landing folder that no source reads.
    UnclaimedFile,
    /// A symbolic link leading out of the folder it was found in: not read.
    OutsideFolder,
}

impl Check {
    pub const ALL: [Check; 17] = [
        Check::UnbalancedQuote,
        Check::FieldCount,
        Check::RequiredMissing,
        Check::PracticeCodeFormat,
        Check::UnknownPractice,
        Check::NotACount,
        Check::NegativeCount,
        Check::NotANumber,
        Check::BadDate,
        Check::NumeratorAboveDenominator,
        Check::DuplicateKey,
        Check::PeriodOutOfRange,
        Check::UnreadableFile,
        Check::PatientIdentifiers,
        Check::LineTooLong,
        Check::UnclaimedFile,
        Check::OutsideFolder,
    ];

    /// The check with this name (as stored in the quarantine table).
    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Check::UnbalancedQuote => "unbalanced_quote",
            Check::FieldCount => "field_count",
            Check::RequiredMissing => "required_missing",
            Check::PracticeCodeFormat => "practice_code_format",
            Check::UnknownPractice => "unknown_practice",
            Check::NotACount => "not_a_count",
            Check::NegativeCount => "negative_count",
            Check::NotANumber => "not_a_number",
            Check::BadDate => "bad_date",
            Check::NumeratorAboveDenominator => "numerator_above_denominator",
            Check::DuplicateKey => "duplicate_key",
            Check::PeriodOutOfRange => "period_out_of_range",
            Check::UnreadableFile => "unreadable_file",
            Check::PatientIdentifiers => "patient_identifiers",
            Check::LineTooLong => "line_too_long",
            Check::UnclaimedFile => "unclaimed_file",
            Check::OutsideFolder => "outside_folder",
        }
    }
}

/// A row (or a whole file) that failed a check, kept with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedRow {
    pub source: String,
    pub file: String,
    pub line: usize,
    pub check: Check,
    pub reason: String,
    pub raw: String,
}

impl QuarantinedRow {
    pub fn new(
        source: &str,
        file: &str,
        line: usize,
        check: Check,
        reason: String,
        raw: &str,
    ) -> Self {
        QuarantinedRow {
            source: source.to_string(),
            file: file.to_string(),
            line,
            check,
            reason,
            raw: raw.chars().take(500).collect(),
        }
    }
}

/// A source as the pipeline declares it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The warehouse table this source loads into.
    pub table: String,
    pub shape: Shape,
    /// File glob (absolute, or relative to `base_dir`).
    pub files: String,
    /// The share of rows that may fail before the whole source is refused
    /// (like dbt's `error_if`).
    pub max_rejected_pct: f64,
    /// The share of rows above which the source loads but is flagged in the
    /// summary and on the board page (like dbt's `warn_if`).
    pub warn_rejected_pct: f64,
    /// Whether rows must name a practice in the register.
    pub check_register: bool,
    /// How many lines a quoted field may run on past the line where it
    /// opens before it is an unbalanced quote ([`MAX_QUOTED_LINES`] by default).
    pub max_quoted_lines: usize,
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub file: String,
    pub sha256: String,
    pub encoding: &'static str,
    pub rows_read: usize,
    pub rows_loaded: usize,
    pub rows_quarantined: usize,
    /// Rows not loaded because a later file resubmitted their practice's period.
    pub rows_superseded: usize,
    pub error: Option<String>,
}

/// Practices' periods that a later file of the same source replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resubmission {
    /// The file whose rows for those practice-periods were not loaded.
    pub earlier: String,
    /// The file loaded in their place.
    pub later: String,
    /// e.g. "A81001 2026-09-01", in order.
    pub practice_periods: Vec<String>,
    pub rows: usize,
}

/// What happened to one source.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    pub table: String,
    pub files: Vec<FileOutcome>,
    /// The version committed, or None if the files were unchanged since the last load.
    pub committed_version: Option<u64>,
    pub quarantine_by_check: BTreeMap<&'static str, usize>,
    pub resubmissions: Vec<Resubmission>,
    /// Set when more rows were set aside than the source's warning level.
    pub warning: Option<String>,
}

/// How many rows each check set aside.
fn count_by_check(rejected: &[QuarantinedRow]) -> BTreeMap<&'static str, usize> {
    let mut by_check = BTreeMap::new();
    for r in rejected {
        *by_check.entry(r.check.as_str()).or_insert(0) += 1;
    }
    by_check
}

/// The rows a source's files held, for its rejection thresholds: a file that
/// could not be read at all counts as one row read (and rejected).
fn rows_read(files: &[FileOutcome]) -> usize {
    files
        .iter()
        .map(|f| if f.error.is_some() { 1 } else { f.rows_read })
        .sum()
}

/// The warning for a source whose share of set-aside rows is above its
/// `warn_rejected_pct` (a file that could not be read counts as one row).
fn rejection_warning(source: &Source, files: &[FileOutcome]) -> Option<String> {
    let read = rows_read(files);
    let rejected: usize = files.iter().map(|f| f.rows_quarantined).sum();
    let pct = rejected as f64 / read.max(1) as f64 * 100.0;
    (pct > source.warn_rejected_pct).then(|| {
        format!(
            "{}: {rejected} of {read} rows ({pct:.1}%) were set aside, above the warning level of {}% (warn_rejected_pct)",
            source.table, source.warn_rejected_pct
        )
    })
}

impl SourceOutcome {
    pub fn rows_superseded(&self) -> usize {
        self.files.iter().map(|f| f.rows_superseded).sum()
    }
    pub fn rows_loaded(&self) -> usize {
        self.files.iter().map(|f| f.rows_loaded).sum()
    }
    pub fn rows_quarantined(&self) -> usize {
        self.files.iter().map(|f| f.rows_quarantined).sum()
    }
}

/// Everything one ingest did.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    pub sources: Vec<SourceOutcome>,
    pub quarantined: Vec<QuarantinedRow>,
    /// Files in a landing folder that no source reads.
    pub unclaimed: Vec<String>,
}

/// Folders where extracts arrive: every file in them (and below) must be
/// read by some source, so a file for a source nobody declared (a new
/// publication, a misnamed extract) is reported rather than silently ignored.
#[derive(Debug, Clone, Default)]
pub struct Landing {
    pub folders: Vec<PathBuf>,
    /// File-name patterns that are not extracts (README files and hidden
    /// files are always skipped).
    pub ignore: Vec<String>,
}

/// The files under the landing folders that no source's pattern matches.
/// Files in the landing folders that no source reads, and (with their
/// landing folder) links leading out of them that no source matched.
fn unclaimed_files(
    landing: &Landing,
    sources: &[Source],
    base_dir: &Path,
) -> Vec<(PathBuf, Option<PathBuf>)> {
    let claimed: HashSet<PathBuf> = sources
        .iter()
        .filter_map(|s| expand(s, base_dir).ok())
        .flatten()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let ignore: Vec<glob::Pattern> = landing
        .ignore
        .iter()
        .filter_map(|p| glob::Pattern::new(p).ok())
        .collect();
    let skipped = |name: &str| {
        name.starts_with('.')
            || name.to_ascii_lowercase().starts_with("readme")
            || ignore.iter().any(|p| p.matches(name))
    };
    let mut out = Vec::new();
    // (folder to list, the landing folder it lies in)
    let mut folders: Vec<(PathBuf, PathBuf)> = landing
        .folders
        .iter()
        .map(|f| (f.clone(), f.clone()))
        .collect();
    while let Some((folder, root)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if skipped(&name) {
                continue;
            }
            let path = entry.path();
            let claimed = path
                .canonicalize()
                .map(|c| claimed.contains(&c))
                .unwrap_or(false);
            let link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if link && leads_outside(&path, &root) {
                // Never followed: a link out of the drop box is reported,
                // by the source that matched it or here.
                if !claimed {
                    out.push((path, Some(root.clone())));
                }
            } else if path.is_dir() {
                folders.push((path, root.clone()));
            } else if !claimed && path.exists() {
                out.push((path, None));
            }
        }
    }
    out.sort();
    out
}

/// Opens an extract for reading, decompressing it as it streams when it is
/// gzip (recognised by its magic bytes, whatever its name).
pub fn open_extract(path: &Path) -> Result<(Box<dyn std::io::Read + Send>, bool)> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(read_error)?);
    let gzip = std::io::BufRead::fill_buf(&mut file)
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        (Box::new(flate2::bufread::MultiGzDecoder::new(file)), true)
    } else {
        (Box::new(file), false)
    })
}

/// The SHA-256 of a file as it arrived (compressed or not), read in pieces.
/// The hash is of the file's bytes, so a re-compressed but identical extract
/// is still "new".
fn hash_file(path: &Path) -> Result<String> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a digest, as `sha256sum` prints it.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One extract to read: a local file, or an object of an S3-compatible
/// store downloaded to a temporary file (so it streams from disk like any
/// other, and memory stays bounded).
struct Extract {
    /// How the file is named in messages, the quarantine and the ledger.
    label: String,
    path: PathBuf,
    /// Removes the download when the load is done.
    _download: Option<tempfile::TempPath>,
}

/// The extracts a source's `files` names: a glob on local disk, or
/// `s3://bucket/prefix/*.csv` on an S3-compatible store.
async fn extracts(source: &Source, base_dir: &Path) -> Result<Vec<Extract>> {
    if !peerbench_warehouse::is_url(&source.files) {
        let outside = outside_links(source, base_dir);
        let files: Vec<Extract> = expand(source, base_dir)?
            .into_iter()
            .filter(|path| !outside.contains(path))
            .map(|path| Extract {
                label: label(&path),
                path,
                _download: None,
            })
            .collect();
        // Only links leading out of the folder: nothing to load, which must
        // not empty the table.
        if files.is_empty() {
            return Err(IngestError::NoFiles {
                source_name: source.table.clone(),
                pattern: format!("{} (only links leading outside its folder)", source.files),
            });
        }
        return Ok(files);
    }
    let remote = |reason: String| IngestError::Remote {
        location: source.files.clone(),
        reason,
    };
    let url = url::Url::parse(&source.files).map_err(|e| remote(e.to_string()))?;
    let store = peerbench_warehouse::s3_store(&url).map_err(|e| remote(e.to_string()))?;
    let pattern_text = url.path().trim_start_matches('/').to_string();
    let pattern = glob::Pattern::new(&pattern_text).map_err(|e| IngestError::BadPattern {
        source_name: source.table.clone(),
        pattern: source.files.clone(),
        reason: e.to_string(),
    })?;
    // List only below the pattern's literal folders.
    let literal: Vec<&str> = pattern_text
        .split('/')
        .take_while(|segment| !segment.contains(['*', '?', '[']))
        .collect();
    let prefix = object_store::path::Path::from(literal.join("/"));
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    let mut keys: Vec<object_store::path::Path> =
        futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&prefix)))
            .await
            .map_err(|e| remote(e.to_string()))?
            .into_iter()
            .map(|meta| meta.location)
            .filter(|key| pattern.matches_with(key.as_ref(), options))
            .collect();
    keys.sort();
    if keys.is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.table.clone(),
            pattern: source.files.clone(),
        });
    }
    let bucket = url.host_str().unwrap_or_default();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let label = format!("s3://{bucket}/{key}");
        let download = tempfile::NamedTempFile::new().map_err(|e| remote(e.to_string()))?;
        let mut file =
            std::io::BufWriter::new(download.reopen().map_err(|e| remote(e.to_string()))?);
        let mut body = object_store::ObjectStoreExt::get(store.as_ref(), &key)
            .await
            .map_err(|e| remote(format!("{label}: {e}")))?
            .into_stream();
        while let Some(chunk) = futures::TryStreamExt::try_next(&mut body)
            .await
            .map_err(|e| remote(format!("{label}: {e}")))?
        {
            std::io::Write::write_all(&mut file, &chunk).map_err(|e| remote(e.to_string()))?;
        }
        std::io::Write::flush(&mut file).map_err(|e| remote(e.to_string()))?;
        let path = download.into_temp_path();
        out.push(Extract {
            label,
            path: path.to_path_buf(),
            _download: Some(path),
        });
    }
    Ok(out)
}

fn expand(source: &Source, base_dir: &Path) -> Result<Vec<PathBuf>> {
    let pattern = if Path::new(&source.files).is_absolute() {
        source.files.clone()
    } else {
        base_dir.join(&source.files).to_string_lossy().into_owned()
    };
    let paths = glob::glob(&pattern).map_err(|e| IngestError::BadPattern {
        source_name: source.table.clone(),
        pattern: pattern.clone(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() && outside_links(source, base_dir).is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.table.clone(),
            pattern,
        });
    }
    Ok(files)
}

/// The folder a file pattern names before its first wildcard: the files
/// it matches must lie inside it.
fn literal_folder(pattern: &Path) -> PathBuf {
    let wild = |c: &std::path::Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    if !pattern.components().any(|c| wild(&c)) {
        // A single file: its folder.
        return pattern.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    pattern.components().take_while(|c| !wild(c)).collect()
}

/// Whether `path` (found inside `folder`) leads, through a symbolic link,
/// somewhere outside it. Such a file is never opened: a landing folder is
/// a drop box, and a link in it must not make peerbench read (and quote in
/// its quarantine) any file the account running it can see.
fn leads_outside(path: &Path, folder: &Path) -> bool {
    let inside = |folder: &Path| {
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        path.canonicalize()
            .map(|p| p.starts_with(&folder))
            .unwrap_or(true)
    };
    !inside(folder)
}

/// The files a local source's pattern matches that are links leading out
/// of its folder: they are not read, and each is reported.
fn outside_links(source: &Source, base_dir: &Path) -> Vec<PathBuf> {
    if peerbench_warehouse::is_url(&source.files) {
        return Vec::new();
    }
    let pattern = base_dir.join(&source.files);
    let folder = literal_folder(&pattern);
    let Ok(paths) = glob::glob(&pattern.to_string_lossy()) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file() && leads_outside(p, &folder))
        .collect();
    out.sort();
    out
}

/// The quarantine entry for a link leading out of its folder.
fn outside_entry(table: &str, path: &Path, folder: &str) -> QuarantinedRow {
    let file = label_without_following(path);
    QuarantinedRow::new(
        table,
        &file,
        0,
        Check::OutsideFolder,
        format!(
            "{file}: a symbolic link leading outside {folder}; it was not read. Copy the extract into the folder instead of linking to it"
        ),
        "",
    )
}

/// A path's label without resolving links (whose targets are not named).
fn label_without_following(path: &Path) -> String {
    let resolved = path
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .map(|dir| dir.join(path.file_name().unwrap_or_default()));
    shown(path, resolved)
}

/// How a file is named in messages and the quarantine: relative to the
/// working directory when it lies below it, so users can open it directly.
fn label(path: &Path) -> String {
    shown(path, path.canonicalize().ok())
}

/// `resolved` (an absolute path) relative to the working directory when it
/// lies below it; `path` as given when it could not be resolved.
fn shown(path: &Path, resolved: Option<PathBuf>) -> String {
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize());
    match (resolved, cwd) {
        (Some(abs), Ok(cwd)) => abs.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(abs),
        _ => path.to_path_buf(),
    }
    .to_string_lossy()
    .into_owned()
}

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
    ]))
}

fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("check_name", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

fn quarantine_log_schema() -> SchemaRef {
    let mut fields = vec![Field::new("table_version", DataType::Int64, false)];
    fields.extend(
        quarantine_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone()),
    );
    Arc::new(Schema::new(fields))
}

/// A load's set-aside rows as they are kept in the quarantine log.
fn quarantine_log_batch(rows: &[QuarantinedRow], version: u64) -> Result<RecordBatch> {
    let batch = quarantine_batch(rows)?;
    let mut columns: Vec<arrow::array::ArrayRef> =
        vec![Arc::new(Int64Array::from(vec![version as i64; rows.len()]))];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(quarantine_log_schema(), columns)
        .map_err(|e| IngestError::Internal(e.to_string()))
}

pub fn quarantine_batch(rows: &[QuarantinedRow]) -> Result<RecordBatch> {
    let mut cols: [StringBuilder; 5] = Default::default();
    let mut line = Int64Builder::new();
    for r in rows {
        cols[0].append_value(&r.source);
        cols[1].append_value(&r.file);
        line.append_value(r.line as i64);
        cols[2].append_value(r.check.as_str());
        cols[3].append_value(&r.reason);
        cols[4].append_value(&r.raw);
    }
    let [mut source, mut file, mut check, mut reason, mut raw] = cols;
    RecordBatch::try_new(
        quarantine_schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(file.finish()),
            Arc::new(line.finish()),
            Arc::new(check.finish()),
            Arc::new(reason.finish()),
            Arc::new(raw.finish()),
        ],
    )
    .map_err(|e| IngestError::Internal(e.to_string()))
}

/// Text values of any string column. DataFusion reads Parquet strings as
/// `Utf8View`, so cast rather than assume `Utf8`.
fn strings(array: &arrow::array::ArrayRef) -> Result<Vec<Option<String>>> {
    let a = as_text(array)?;
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

/// Runs `sql` over one warehouse table; None when the table does not exist yet.
async fn query_table(
    warehouse: &Warehouse,
    table: &str,
    sql: &str,
) -> Result<Option<Vec<RecordBatch>>> {
    if warehouse.version(table).await?.is_none() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    warehouse.register(&ctx, table, None).await?;
    Ok(Some(ctx.sql(sql).await?.collect().await?))
}

/// Whole numbers of any integer column (nulls as 0).
fn int64s(array: &arrow::array::ArrayRef) -> Result<Vec<i64>> {
    let a = arrow::compute::cast(array, &DataType::Int64)
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    let a = a
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| IngestError::Internal("expected whole numbers".into()))?;
    Ok((0..a.len())
        .map(|i| if a.is_valid(i) { a.value(i) } else { 0 })
        .collect())
}

/// The (file, sha256) pairs of the source's latest recorded load.
async fn last_loaded(
    warehouse: &Warehouse,
    table: &str,
    definition: &str,
) -> Result<HashSet<(String, String)>> {
    let sql = format!(
        "SELECT file, sha256 FROM {LEDGER_TABLE} WHERE source = '{table}' \
         AND definition = '{definition}' AND table_version = \
         (SELECT max(table_version) FROM {LEDGER_TABLE} WHERE source = '{table}')"
    );
    // A ledger from before `definition` existed cannot vouch for the last
    // load: reload.
    let Ok(batches) = query_table(warehouse, LEDGER_TABLE, &sql).await else {
        return Ok(HashSet::new());
    };
    let mut out = HashSet::new();
    for batch in batches.unwrap_or_default() {
        let files = strings(batch.column(0))?;
        let hashes = strings(batch.column(1))?;
        out.extend(
            files
                .into_iter()
                .zip(hashes)
                .filter_map(|(f, h)| Some((f?, h?))),
        );
    }
    Ok(out)
}

/// Bumped whenever a check changes what it accepts, so that files loaded
/// under the old checks are read again.
const CHECKS_REVISION: u32 = 2;

/// What a load's outcome depends on besides its files: the checks, the
/// source's definition (columns, aliases, formats, thresholds) and, when rows
/// are checked against it, the practice register. A change to any of them
/// reloads files that are themselves unchanged.
fn load_definition(source: &Source, known_practices: Option<&HashSet<String>>) -> String {
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
async fn first_loaded(warehouse: &Warehouse, table: &str) -> Result<HashMap<String, i64>> {
    let sql = format!(
        "SELECT sha256, min(table_version) FROM {LEDGER_TABLE} WHERE source = '{table}' GROUP BY sha256"
    );
    let mut out = HashMap::new();
    for b in query_table(warehouse, LEDGER_TABLE, &sql)
        .await?
        .unwrap_or_default()
    {
        let versions = int64s(b.column(1))?;
        for (h, v) in strings(b.column(0))?.into_iter().zip(versions) {
            if let Some(h) = h {
                out.insert(h, v);
            }
        }
    }
    Ok(out)
}

/// A column as text: practice codes and periods (dates, years) alike.
fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    as_text(
        batch
            .column_by_name(name)
            .ok_or_else(|| IngestError::Internal(format!("no column {name}")))?,
    )
}

/// Any column cast to text.
fn as_text(array: &arrow::array::ArrayRef) -> Result<StringArray> {
    let text = arrow::compute::cast(array, &DataType::Utf8)
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    text.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| IngestError::Internal("expected a text column".into()))
}

/// The rows of a load on their way to the Delta write. The write commits
/// when the stream ends, so a reader that stops early for any reason (a
/// panic included) must end it with an error, never just close it: that
/// would commit half a source.
struct Rows {
    tx: tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    /// Set once every file has been read and the outcome sent.
    finished: std::sync::atomic::AtomicBool,
}

impl Rows {
    fn send(
        &self,
        rows: datafusion::error::Result<RecordBatch>,
    ) -> std::result::Result<
        (),
        tokio::sync::mpsc::error::SendError<datafusion::error::Result<RecordBatch>>,
    > {
        self.tx.blocking_send(rows)
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        if !self.finished.load(std::sync::atomic::Ordering::Acquire) {
            let _ = self
                .tx
                .blocking_send(Err(datafusion::error::DataFusionError::Execution(
                    "reading the source stopped before its end; nothing is committed".into(),
                )));
        }
    }
}

/// How files that arrive in the same load are ordered: by name without its
/// extensions, then by the whole name. Comparing whole names would put
/// `x-2026-09-resubmitted.csv` before `x-2026-09.csv` ('-' sorts before
/// '.'), making the original look like the later file.
fn name_order(label: &str) -> (String, String) {
    let (folder, name) = label.rsplit_once('/').unwrap_or(("", label));
    let name_without = name.strip_suffix(".gz").unwrap_or(name);
    let stem = name_without
        .rsplit_once('.')
        .map_or(name_without, |(stem, _)| stem);
    (format!("{folder}/{stem}"), label.to_string())
}

/// What reading a source's files found, besides the rows sent to the write.
struct SourceRead {
    files: Vec<FileOutcome>,
    rejected: Vec<QuarantinedRow>,
    resubmissions: Vec<Resubmission>,
    /// Set when the source as a whole is refused: the write was told to fail.
    refused: Option<IngestError>,
}

/// Reads a source's files one at a time, newest arrival first, sending the
/// rows that pass into `tx` (the Delta write) and keeping the rest.
///
/// A practice's resubmission for a period replaces its earlier rows: for
/// each practice and period only the rows of the latest-arriving file with
/// rows for it are loaded. A file arrives when its content is first loaded
/// (the ledger's earliest version for its hash); files arriving in the same
/// load are ordered by name without extensions (see [`name_order`]), so
/// `…-resubmitted.csv` and `…_v2.csv` follow `….csv` and dated names
/// follow the calendar. Reading newest first, a file's rows for a practice
/// and period already taken by a later file are left out, counted and named
/// — never dropped silently; the earlier file stays where it is.
fn read_source(
    source: &Source,
    paths: &[PathBuf],
    mut files: Vec<FileOutcome>,
    order: &[usize],
    known_practices: Option<&HashSet<String>>,
    tx: &Rows,
) -> SourceRead {
    let shape = &source.shape;
    let resubmittable = shape.practice_column().zip(shape.period_column());
    let known = if source.check_register {
        known_practices
    } else {
        None
    };
    let mut rejected = Vec::new();
    let mut sent_any = false;
    // (practice, period) → the file (index) whose rows for it are loaded.
    let mut taken: HashMap<(String, String), usize> = HashMap::new();
    // (earlier, later) file indices → practice-periods and rows replaced.
    let mut replaced: BTreeMap<(usize, usize), (BTreeSet<String>, usize)> = BTreeMap::new();
    let mut write_stopped = false;
    let mut unbalanced = None;
    let progress = |done: usize, file: &str| {
        // For the CLI's progress bar (off unless it draws one).
        tracing::trace!(
            target: "peerbench_progress",
            bar = %format_args!("loading {}", source.table),
            done = done as u64,
            total = order.len() as u64,
            "{file}"
        )
    };
    for (done, &i) in order.iter().enumerate() {
        let file = files[i].file.clone();
        progress(done, &file);
        let mut mine: HashSet<(String, String)> = HashSet::new();
        let mut loaded = 0usize;
        let mut superseded = 0usize;
        let mut emit = |batch: RecordBatch| -> Result<()> {
            let batch = match resubmittable {
                Some((practice, period)) => {
                    let (codes, periods) =
                        (text_column(&batch, practice)?, text_column(&batch, period)?);
                    // Rows come grouped by practice and period, so the
                    // decision is looked up once per run of equal pairs.
                    let mut last: Option<((&str, &str), Option<usize>)> = None;
                    let mut keep = Vec::with_capacity(batch.num_rows());
                    for r in 0..batch.num_rows() {
                        let pair = (codes.value(r), periods.value(r));
                        let owner = match last {
                            Some((p, owner)) if p == pair => owner,
                            _ => {
                                let owned = (pair.0.to_string(), pair.1.to_string());
                                let owner = taken.get(&owned).copied();
                                if owner.is_none() {
                                    mine.insert(owned);
                                }
                                last = Some((pair, owner));
                                owner
                            }
                        };
                        keep.push(owner.is_none());
                        if let Some(later) = owner {
                            superseded += 1;
                            let entry = replaced.entry((i, later)).or_default();
                            entry.0.insert(format!("{} {}", pair.0, pair.1));
                            entry.1 += 1;
                        }
                    }
                    if keep.iter().all(|k| *k) {
                        batch
                    } else {
                        arrow::compute::filter_record_batch(
                            &batch,
                            &arrow::array::BooleanArray::from(keep),
                        )
                        .map_err(|e| IngestError::Internal(e.to_string()))?
                    }
                }
                None => batch,
            };
            loaded += batch.num_rows();
            if batch.num_rows() > 0 {
                sent_any = true;
                tx.send(Ok(batch)).map_err(|_| {
                    write_stopped = true;
                    IngestError::Internal("the warehouse write stopped".into())
                })?;
            }
            Ok(())
        };
        let read = open_extract(&paths[i]).and_then(|(input, gzip)| {
            read_stream(
                &source.table,
                &file,
                input,
                shape,
                known,
                source.max_quoted_lines,
                &mut emit,
            )
            .map_err(|e| {
                match e {
                    // A corrupt gzip stream surfaces as a read error part-way.
                    IngestError::Stream { reason, .. } if gzip => IngestError::BadGzip {
                        file: file.clone(),
                        reason,
                    },
                    e => e,
                }
            })
        });
        if write_stopped {
            break;
        }
        let outcome = &mut files[i];
        match read {
            // Rows handed on were loaded or superseded; the rest were set
            // aside. Anything else is rows unaccounted for: the whole source
            // is refused (its rows are already on their way to the write).
            Ok(stats) if stats.rows_read != loaded + superseded + stats.quarantined.len() => {
                unbalanced = Some(IngestError::Unbalanced {
                    file: file.clone(),
                    read: stats.rows_read,
                    accounted: loaded + superseded + stats.quarantined.len(),
                });
                break;
            }
            Ok(stats) => {
                tracing::debug!(
                    file,
                    encoding = stats.encoding,
                    rows = stats.rows_read,
                    "read"
                );
                outcome.encoding = stats.encoding;
                outcome.rows_read = stats.rows_read;
                outcome.rows_loaded = loaded;
                outcome.rows_quarantined = stats.quarantined.len();
                outcome.rows_superseded = superseded;
                rejected.extend(stats.quarantined);
            }
            Err(e) => {
                // A file that cannot be read at all is quarantined whole; the
                // source's other files still load.
                tracing::warn!("{e}");
                let check = match e {
                    IngestError::PatientIdentifiers { .. } => Check::PatientIdentifiers,
                    IngestError::LineTooLong { .. } => Check::LineTooLong,
                    _ => Check::UnreadableFile,
                };
                rejected.push(QuarantinedRow::new(
                    &source.table,
                    &file,
                    0,
                    check,
                    e.to_string(),
                    "",
                ));
                outcome.rows_quarantined = 1;
                outcome.error = Some(e.to_string());
            }
        }
        for pair in mine {
            taken.entry(pair).or_insert(i);
        }
    }
    progress(order.len(), "");
    let resubmissions = replaced
        .into_iter()
        .map(
            |((earlier, later), (practice_periods, rows))| Resubmission {
                earlier: files[earlier].file.clone(),
                later: files[later].file.clone(),
                practice_periods: practice_periods.into_iter().collect(),
                rows,
            },
        )
        .collect();
    // Files were read newest first; people read the quarantine by file name.
    rejected.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let refused = unbalanced.or_else(|| too_many_rejected(source, &files, &rejected));
    if refused.is_some() {
        // Fail the write before it commits: the table keeps its last version.
        let _ = tx.send(Err(datafusion::error::DataFusionError::Execution(format!(
            "source {} refused; nothing of it is committed",
            source.table
        ))));
    } else if !sent_any {
        // An empty load still commits, so the table exists with its schema.
        let _ = tx.send(Ok(RecordBatch::new_empty(schema_for(shape))));
    }
    tx.finished
        .store(true, std::sync::atomic::Ordering::Release);
    SourceRead {
        files,
        rejected,
        resubmissions,
        refused,
    }
}

/// The source as a whole is refused when more than `max_rejected_pct` of its
/// rows failed (a file that could not be read counts as one row read and
/// rejected): something is systematically wrong.
fn too_many_rejected(
    source: &Source,
    files: &[FileOutcome],
    rejected: &[QuarantinedRow],
) -> Option<IngestError> {
    let read = rows_read(files);
    if read == 0 || rejected.len() as f64 / read as f64 * 100.0 <= source.max_rejected_pct {
        return None;
    }
    let by_check = count_by_check(rejected);
    let mut counts: Vec<(&&str, &usize)> = by_check.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1));
    let commonest = counts
        .iter()
        .take(3)
        .map(|(c, n)| format!("{c} × {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let example = rejected
        .iter()
        .min_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)))
        .map(|r| format!(" First: {}:{}: {}", r.file, r.line, r.reason))
        .unwrap_or_default();
    Some(IngestError::TooManyRejected {
        source_name: source.table.clone(),
        rejected: rejected.len(),
        read,
        limit_pct: source.max_rejected_pct,
        why: format!("Commonest: {commonest}.{example}"),
    })
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
    versions: &std::collections::BTreeMap<String, u64>,
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
            "SELECT file, sha256 FROM {LEDGER_TABLE} WHERE source = '{t}' AND table_version = {} ORDER BY file",
            load_at(t, Some(version))
        );
        let mut files = Vec::new();
        for b in query_table(warehouse, LEDGER_TABLE, &sql)
            .await?
            .unwrap_or_default()
        {
            for (file, sha256) in strings(b.column(0))?.into_iter().zip(strings(b.column(1))?) {
                files.push(FileOutcome {
                    file: file.unwrap_or_default(),
                    sha256: sha256.unwrap_or_default(),
                    encoding: "unknown",
                    rows_read: 0,
                    rows_loaded: 0,
                    rows_quarantined: 0,
                    rows_superseded: 0,
                    error: None,
                });
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

/// An unchanged source's outcome, from the ledger and the quarantine table
/// of its last load: the files are not read again. None when the warehouse
/// predates what this needs (then the source is simply reloaded).
async fn unchanged_outcome(
    warehouse: &Warehouse,
    source: &Source,
    mut files: Vec<FileOutcome>,
    at: Option<u64>,
) -> Result<Option<(SourceOutcome, Vec<QuarantinedRow>)>> {
    let t = &source.table;
    let ledger = query_table(
        warehouse,
        LEDGER_TABLE,
        &format!(
            "SELECT file, rows_loaded, rows_quarantined, coalesce(rows_superseded, 0), table_version \
             FROM {LEDGER_TABLE} WHERE source = '{t}' AND table_version = {}",
            load_at(t, at)
        ),
    )
    .await;
    // A ledger from before `rows_superseded` existed: reload instead.
    let Ok(Some(ledger)) = ledger else {
        return Ok(None);
    };
    let mut counts: HashMap<String, [i64; 3]> = HashMap::new();
    let mut version = None;
    for b in ledger {
        let (loaded, quarantined, superseded) = (
            int64s(b.column(1))?,
            int64s(b.column(2))?,
            int64s(b.column(3))?,
        );
        version = int64s(b.column(4))?.first().copied().or(version);
        for (r, name) in strings(b.column(0))?.into_iter().enumerate() {
            counts.insert(
                name.unwrap_or_default(),
                [loaded[r], quarantined[r], superseded[r]],
            );
        }
    }
    let Some(version) = version else {
        return Ok(None);
    };
    // The rows that load set aside, from the quarantine log: the
    // `quarantine` table may be from a later run that failed before
    // rewriting it, or from before this load.
    let mut rejected = Vec::new();
    let quarantined = query_table(
        warehouse,
        QUARANTINE_LOG_TABLE,
        &format!(
            "SELECT file, line, check_name, reason, raw FROM {QUARANTINE_LOG_TABLE} \
             WHERE source = '{t}' AND table_version = {version} ORDER BY file, line"
        ),
    )
    .await?;
    for b in quarantined.unwrap_or_default() {
        let (file, check, reason, raw) = (
            strings(b.column(0))?,
            strings(b.column(2))?,
            strings(b.column(3))?,
            strings(b.column(4))?,
        );
        let lines = int64s(b.column(1))?;
        for r in 0..b.num_rows() {
            let Some(check) = check[r].as_deref().and_then(Check::from_name) else {
                return Ok(None);
            };
            rejected.push(QuarantinedRow {
                source: t.clone(),
                file: file[r].clone().unwrap_or_default(),
                line: lines[r] as usize,
                check,
                reason: reason[r].clone().unwrap_or_default(),
                raw: raw[r].clone().unwrap_or_default(),
            });
        }
    }
    // A load killed between its ledger and its quarantine log, or a log
    // from before the log existed: the books do not balance, so reload.
    let logged: i64 = counts.values().map(|c| c[1]).sum();
    if rejected.len() as i64 != logged {
        tracing::info!(
            table = t,
            "the quarantine log does not match the ledger; reloading"
        );
        return Ok(None);
    }
    for f in &mut files {
        let Some([loaded, quarantined, superseded]) = counts.get(&f.file) else {
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

/// Whether the quarantine table holds anything but exactly `rows` (in any
/// order); true when it does not exist yet.
async fn quarantine_differs(warehouse: &Warehouse, rows: &[QuarantinedRow]) -> Result<bool> {
    let sql = format!("SELECT source, file, line, check_name, reason, raw FROM {QUARANTINE_TABLE}");
    let Some(batches) = query_table(warehouse, QUARANTINE_TABLE, &sql).await? else {
        return Ok(true);
    };
    type Key = (String, String, i64, String, String, String);
    let mut stored: Vec<Key> = Vec::new();
    for b in batches {
        let text = |i| strings(b.column(i));
        let (source, file, check, reason, raw) = (text(0)?, text(1)?, text(3)?, text(4)?, text(5)?);
        let lines = int64s(b.column(2))?;
        for r in 0..b.num_rows() {
            stored.push((
                source[r].clone().unwrap_or_default(),
                file[r].clone().unwrap_or_default(),
                lines[r],
                check[r].clone().unwrap_or_default(),
                reason[r].clone().unwrap_or_default(),
                raw[r].clone().unwrap_or_default(),
            ));
        }
    }
    let mut wanted: Vec<Key> = rows
        .iter()
        .map(|q| {
            (
                q.source.clone(),
                q.file.clone(),
                q.line as i64,
                q.check.as_str().to_string(),
                q.reason.clone(),
                q.raw.clone(),
            )
        })
        .collect();
    stored.sort();
    wanted.sort();
    Ok(stored != wanted)
}

/// The practice codes in the register table, if it has been loaded.
pub async fn register_codes(
    warehouse: &Warehouse,
    register_table: &str,
) -> Result<Option<HashSet<String>>> {
    let sql = format!("SELECT DISTINCT practice_code FROM {register_table}");
    let Some(batches) = query_table(warehouse, register_table, &sql).await? else {
        return Ok(None);
    };
    let mut codes = HashSet::new();
    for b in batches {
        codes.extend(strings(b.column(0))?.into_iter().flatten());
    }
    Ok(Some(codes))
}

/// What a load would do with one source, said without doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    pub table: String,
    pub files: usize,
    /// Whether the load would read and commit the source.
    pub load: bool,
    /// Why, in words: "unchanged", "new table", "2 files new or changed: …".
    pub why: String,
}

/// What `ingest` would do with each source — which would be read and
/// committed, and why — reading only file hashes and the ledger.
pub async fn plan(
    warehouse: &Warehouse,
    sources: &[Source],
    base_dir: &Path,
    register_table: Option<&str>,
) -> Result<Vec<SourcePlan>> {
    let known = match register_table {
        Some(t) => register_codes(warehouse, t).await?,
        None => None,
    };
    let mut plans = Vec::new();
    for source in sources {
        let extracts = extracts(source, base_dir).await?;
        let mut current = BTreeMap::new();
        for e in &extracts {
            current.insert(e.label.clone(), hash_file(&e.path)?);
        }
        let files = current.len();
        let plan = |load: bool, why: String| SourcePlan {
            table: source.table.clone(),
            files,
            load,
            why,
        };
        if warehouse.version(&source.table).await?.is_none() {
            plans.push(plan(true, "new table: every file is read".into()));
            continue;
        }
        let t = &source.table;
        let sql = format!(
            "SELECT file, sha256, definition FROM {LEDGER_TABLE} WHERE source = '{t}' AND table_version = \
             (SELECT max(table_version) FROM {LEDGER_TABLE} WHERE source = '{t}')"
        );
        let mut before: BTreeMap<String, String> = BTreeMap::new();
        let mut definitions = BTreeSet::new();
        for b in query_table(warehouse, LEDGER_TABLE, &sql)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
        {
            let (f, h, d) = (
                strings(b.column(0))?,
                strings(b.column(1))?,
                strings(b.column(2))?,
            );
            for r in 0..b.num_rows() {
                before.insert(
                    f[r].clone().unwrap_or_default(),
                    h[r].clone().unwrap_or_default(),
                );
                definitions.insert(d[r].clone().unwrap_or_default());
            }
        }
        let known = if source.check_register {
            known.as_ref()
        } else {
            None
        };
        let definition = load_definition(source, known);
        let changed: Vec<&String> = current
            .iter()
            .filter(|(f, h)| before.get(*f) != Some(h))
            .map(|(f, _)| f)
            .collect();
        let gone: Vec<&String> = before
            .keys()
            .filter(|f| !current.contains_key(*f))
            .collect();
        let name = |v: &[&String]| {
            let shown: Vec<&str> = v.iter().take(3).map(|f| f.as_str()).collect();
            let more = v.len().saturating_sub(3);
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        plans.push(if !changed.is_empty() || !gone.is_empty() {
            let mut why = Vec::new();
            if !changed.is_empty() {
                why.push(format!("{} file(s) new or changed: {}", changed.len(), name(&changed)));
            }
            if !gone.is_empty() {
                why.push(format!("{} file(s) gone since the last load: {}", gone.len(), name(&gone)));
            }
            plan(true, why.join("; "))
        } else if definitions != BTreeSet::from([definition]) {
            plan(
                true,
                "the files are unchanged, but the checks, the source's definition or the practice register changed: every file is read again".into(),
            )
        } else {
            plan(false, "unchanged since the last load: nothing read or committed".into())
        });
    }
    Ok(plans)
}

/// Loads one source: unless every file is unchanged since the last load
/// (by content hash), reads and checks every file and replaces the table in
/// one commit. Files are streamed into the write one at a time, so memory
/// stays bounded whatever the source's size.
pub async fn load_source(
    warehouse: &Warehouse,
    source: &Source,
    base_dir: &Path,
    known_practices: Option<&HashSet<String>>,
    quarantine: &mut Vec<QuarantinedRow>,
) -> Result<SourceOutcome> {
    let extracts = extracts(source, base_dir).await?;
    let folder = literal_folder(&base_dir.join(&source.files));
    for path in outside_links(source, base_dir) {
        let entry = outside_entry(&source.table, &path, &label(&folder));
        tracing::warn!("{}", entry.reason);
        quarantine.push(entry);
    }
    let paths: Vec<PathBuf> = extracts.iter().map(|e| e.path.clone()).collect();
    let schema = schema_for(&source.shape);
    let mut files = Vec::with_capacity(paths.len());
    for extract in &extracts {
        files.push(FileOutcome {
            file: extract.label.clone(),
            sha256: hash_file(&extract.path)?,
            encoding: "unknown",
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_superseded: 0,
            error: None,
        });
    }
    let current: HashSet<(String, String)> = files
        .iter()
        .map(|f| (f.file.clone(), f.sha256.clone()))
        .collect();
    let table_exists = warehouse.version(&source.table).await?.is_some();
    let definition = load_definition(source, known_practices);
    if table_exists
        && current == last_loaded(warehouse, &source.table, &definition).await?
        && let Some((outcome, rejected)) =
            unchanged_outcome(warehouse, source, files.clone(), None).await?
    {
        tracing::info!(
            table = source.table,
            "unchanged since the last load; nothing read or committed"
        );
        quarantine.extend(rejected);
        return Ok(outcome);
    }

    // Newest arrival first (see `read_source`).
    let arrived = first_loaded(warehouse, &source.table).await?;
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(arrived.get(&files[i].sha256).copied().unwrap_or(i64::MAX)),
            std::cmp::Reverse(name_order(&files[i].file)),
        )
    });

    // Parsing runs on a blocking thread and hands batches to the Delta write
    // through a small channel: at most a few batches are in flight.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let reading = {
        let source = source.clone();
        let known = known_practices.cloned();
        // The reader's log lines belong to the run and stage that started it.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_span = span.enter();
            let rows = Rows {
                tx,
                finished: std::sync::atomic::AtomicBool::new(false),
            };
            read_source(&source, &paths, files, &order, known.as_ref(), &rows)
        })
    };
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let metadata = HashMap::from([(
        "peerbench.operation".to_string(),
        serde_json::json!("ingest"),
    )]);
    let written = warehouse
        .overwrite_stream(&source.table, schema, Box::pin(stream), metadata)
        .await;
    let read = reading
        .await
        .map_err(|e| IngestError::Internal(format!("reading {}: {e}", source.table)))?;
    let SourceRead {
        files,
        rejected,
        resubmissions,
        refused,
    } = read;
    let by_check = count_by_check(&rejected);
    quarantine.extend(rejected.iter().cloned());
    if let Some(refused) = refused {
        return Err(refused);
    }
    let commit = written?;
    // The set-aside rows are logged against the version just committed,
    // before the ledger vouches for the load: a run killed in between
    // leaves a ledger that does not name this version, and reloads.
    if !rejected.is_empty() {
        let metadata = HashMap::from([(
            "peerbench.operation".to_string(),
            serde_json::json!("quarantine_log"),
        )]);
        warehouse
            .append(
                QUARANTINE_LOG_TABLE,
                quarantine_log_schema(),
                vec![quarantine_log_batch(&rejected, commit.version)?],
                metadata,
            )
            .await?;
    }
    if let Some(w) = rejection_warning(source, &files) {
        tracing::warn!("{w}");
    }
    for r in &resubmissions {
        tracing::info!(
            table = source.table,
            earlier = r.earlier,
            later = r.later,
            practice_periods = r.practice_periods.len(),
            rows = r.rows,
            "resubmission replaces earlier rows"
        );
    }

    // The ledger is written after the table: a crash between the two leaves a
    // ledger that disagrees with the files, so the next run reloads (converges).
    let n = files.len();
    let ledger = RecordBatch::try_new(
        ledger_schema(),
        vec![
            Arc::new(StringArray::from(vec![source.table.clone(); n])),
            Arc::new(StringArray::from(
                files.iter().map(|f| f.file.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                files.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                files
                    .iter()
                    .map(|f| f.rows_loaded as i64)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                files
                    .iter()
                    .map(|f| f.rows_quarantined as i64)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(vec![commit.version as i64; n])),
            Arc::new(Int64Array::from(
                files
                    .iter()
                    .map(|f| f.rows_superseded as i64)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![definition.clone(); n])),
            Arc::new(Int64Array::from(
                files.iter().map(|f| f.rows_read as i64).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| IngestError::Internal(e.to_string()))?;
    warehouse
        .append(LEDGER_TABLE, ledger_schema(), vec![ledger], HashMap::new())
        .await?;
    tracing::info!(
        table = source.table,
        version = commit.version,
        rows = files.iter().map(|f| f.rows_loaded).sum::<usize>(),
        "loaded"
    );
    Ok(SourceOutcome {
        table: source.table.clone(),
        warning: rejection_warning(source, &files),
        files,
        committed_version: Some(commit.version),
        quarantine_by_check: by_check,
        resubmissions,
    })
}

/// Loads every source in order (the register first, if one is named), then
/// replaces the quarantine table when anything changed.
pub async fn ingest(
    warehouse: &Warehouse,
    sources: &[Source],
    base_dir: &Path,
    register_table: Option<&str>,
    landing: &Landing,
) -> Result<IngestSummary> {
    let mut summary = IngestSummary::default();
    let mut ordered: Vec<&Source> = sources.iter().collect();
    ordered.sort_by_key(|s| Some(s.table.as_str()) != register_table);
    let mut known: Option<HashSet<String>> = None;
    for source in ordered {
        let outcome = load_source(
            warehouse,
            source,
            base_dir,
            known.as_ref(),
            &mut summary.quarantined,
        )
        .instrument(tracing::info_span!("source", table = source.table))
        .await?;
        if Some(source.table.as_str()) == register_table {
            known = register_codes(warehouse, &source.table).await?;
        }
        summary.sources.push(outcome);
    }
    for (path, outside) in unclaimed_files(landing, sources, base_dir) {
        if let Some(folder) = outside {
            let entry = outside_entry("", &path, &label(&folder));
            tracing::warn!("{}", entry.reason);
            summary.quarantined.push(entry);
            continue;
        }
        let file = label(&path);
        tracing::warn!("{file}: no source in the pipeline reads this file");
        summary.quarantined.push(QuarantinedRow::new(
            "",
            &file,
            0,
            Check::UnclaimedFile,
            format!(
                "{file}: no source in the pipeline reads this file (sources read: {}); declare a source whose `files` pattern matches it, or move it out of the landing folder",
                sources
                    .iter()
                    .map(|s| format!("{} ← {}", s.table, s.files))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "",
        ));
        summary.unclaimed.push(file);
    }
    // The quarantine table is what one clean run of these files would set
    // aside: rewritten whenever it differs, so rows lost to an earlier run
    // that failed or was killed before rewriting it come back.
    if quarantine_differs(warehouse, &summary.quarantined).await? {
        let batch = quarantine_batch(&summary.quarantined)?;
        let metadata = HashMap::from([(
            "peerbench.operation".to_string(),
            serde_json::json!("quarantine"),
        )]);
        warehouse
            .overwrite(QUARANTINE_TABLE, quarantine_schema(), vec![batch], metadata)
            .await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_resubmitted_file_follows_the_original_in_name_order() {
        let mut names = vec![
            "in/x-2026-09-resubmitted.csv",
            "in/x-2026-09.csv",
            "in/x-2026-08.csv.gz",
            "in/x-2026-09_v2.csv",
        ];
        names.sort_by_key(|n| name_order(n));
        assert_eq!(
            names,
            vec![
                "in/x-2026-08.csv.gz",
                "in/x-2026-09.csv",
                "in/x-2026-09-resubmitted.csv",
                "in/x-2026-09_v2.csv",
            ]
        );
    }

    #[test]
    fn a_patterns_folder_is_what_precedes_its_first_wildcard() {
        assert_eq!(
            literal_folder(Path::new("/d/searches/*.csv")),
            Path::new("/d/searches")
        );
        assert_eq!(
            literal_folder(Path::new("/d/in/*/x-*.csv")),
            Path::new("/d/in")
        );
        assert_eq!(
            literal_folder(Path::new("/d/practices.csv")),
            Path::new("/d")
        );
    }

    #[test]
    fn gzip_is_recognised_by_content_not_name() {
        let text = b"PRACTICE_CODE,VALUE\nA81001,5\n".to_vec();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&text).unwrap();
        let gz = enc.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, gzip) in [("x.csv", &gz, true), ("x.csv.gz", &text, false)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (mut input, is_gzip) = open_extract(&path).unwrap();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut input, &mut out).unwrap();
            assert_eq!((out, is_gzip), (text.clone(), gzip), "{name}");
        }
    }
}
