//! The crate's one error type: what went wrong, with the file, line and
//! column a person needs to act on it.

use std::path::PathBuf;

use arrow::error::ArrowError;
use peerbench_warehouse::WarehouseError;

use crate::spool::SpoolError;

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
    /// Arrow refused to build, cast or filter a batch that peerbench made
    /// itself: a bug, not bad input. `context` says where (the file or table).
    #[error("{context}: {source} (a bug in peerbench: please report it)")]
    Arrow {
        context: String,
        #[source]
        source: ArrowError,
    },
    /// A file's checked rows could not be kept in, or read back from, a
    /// temporary file while the file was read.
    #[error(
        "{file}: its rows could not be spooled to a temporary file ({source}); check the free space in the temporary folder (TMPDIR)"
    )]
    Spool {
        file: String,
        #[source]
        source: SpoolError,
    },
    /// The Delta write stopped taking rows (its own error says why).
    #[error("source {table:?}: the warehouse write stopped before every file was read")]
    WriteStopped { table: String },
    /// The thread reading a source's files panicked or was cancelled.
    #[error("source {table:?}: reading its files stopped unexpectedly ({source})")]
    Reader {
        table: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

impl IngestError {
    /// An Arrow error, with where it happened.
    pub(crate) fn arrow(context: impl Into<String>) -> impl FnOnce(ArrowError) -> IngestError {
        let context = context.into();
        move |source| IngestError::Arrow { context, source }
    }
}
