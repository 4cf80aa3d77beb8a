//! Ingestion: practice extracts in, checked rows into the warehouse.
//!
//! Every row is checked; a row that fails a named check is quarantined with
//! its file, line and a reason a person can act on — never silently dropped.
//! A source's files are loaded in one Delta commit, and a load ledger records
//! each file's content hash so loading the same files again changes nothing.
//!
//! The rooms, in the order a file travels through them:
//! - `extraction` finds a source's files (local or S3), opens and hashes
//!   them; `landing` reports files in a landing folder that no source reads.
//! - `read` reads one file: `sniff` (empty, spreadsheet, binary; encodings),
//!   `lines` and `records` (line endings, the line limit, quotes), `header`,
//!   `identifiers` (patient-level files refused), `row` and the pure `field`
//!   parser (with `period`), `dedup`, `columns` (Arrow batches) and `spool`.
//! - `load` loads a source: files read newest first, `resubmission`s
//!   replacing earlier rows, the `source`'s rejection limits, then the
//!   `quarantine` log and the `ledger`; `plan` says what a load would do
//!   without doing it; `tables` reads the warehouse's tables back.
//!
//! Not here: what the extracts' columns are called (`shape` holds the
//! built-in definitions, the pipeline file the rest) and anything computed
//! from the loaded rows.

mod check;
mod columns;
mod dedup;
mod error;
mod extraction;
mod field;
#[cfg(test)]
mod fuzz;
mod header;
mod identifiers;
mod landing;
mod ledger;
mod lines;
mod load;
mod outcome;
mod period;
mod plan;
mod quarantine;
mod read;
mod records;
mod resubmission;
mod row;
mod shape;
mod sniff;
mod source;
mod spool;
mod tables;

pub use check::{Check, QuarantinedRow};
pub use columns::{BATCH_ROWS, schema_for};
pub use error::{IngestError, Result};
pub use extraction::open_extract;
pub use field::is_practice_code;
pub use landing::Landing;
pub use ledger::{LEDGER_TABLE, outcome_at};
pub use lines::MAX_LINE_BYTES;
pub use load::ingest;
pub use outcome::{FileOutcome, IngestSummary, SourceOutcome};
pub use plan::{SourcePlan, plan};
pub use quarantine::{QUARANTINE_LOG_TABLE, QUARANTINE_TABLE, quarantine_batch};
pub use read::{FileStats, read_file, read_stream};
pub use records::MAX_QUOTED_LINES;

/// The practice register's codes, which every row's practice is looked up
/// in: with foldhash, as SipHash was 2% of a load's CPU. The set is the
/// register's, so a file cannot choose the keys it is built from.
pub type PracticeCodes = std::collections::HashSet<String, foldhash::fast::RandomState>;
pub use resubmission::Resubmission;
pub use shape::{BUILTIN_SHAPES, ColumnKind, ColumnSpec, DateFormat, Shape, builtin, header_key};
pub use source::Source;
pub use spool::SpoolError;
pub use tables::register_codes;

/// The target of the crate's log lines, whichever module writes them: log
/// shippers and `RUST_LOG` filters name the crate, not its rooms.
pub(crate) const LOG_TARGET: &str = "peerbench_ingest";
