//! What a load did: per file, per source, and for the whole ingest.

use std::collections::BTreeMap;

use crate::QuarantinedRow;
use crate::resubmission::Resubmission;

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// The file as messages and the quarantine name it.
    pub file: String,
    /// The file as the ledger knows it, whatever the working directory
    /// (`Extract::key`).
    pub key: String,
    pub sha256: String,
    pub encoding: &'static str,
    pub rows_read: usize,
    pub rows_loaded: usize,
    pub rows_quarantined: usize,
    /// Rows not loaded because a later file resubmitted their practice's period.
    pub rows_superseded: usize,
    pub error: Option<String>,
}

impl FileOutcome {
    /// A file known by its name and hash, before its rows are counted.
    pub(crate) fn unread(file: String, key: String, sha256: String) -> FileOutcome {
        FileOutcome {
            file,
            key,
            sha256,
            encoding: "unknown",
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_superseded: 0,
            error: None,
        }
    }
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

/// How many rows each check set aside.
pub(crate) fn count_by_check(rejected: &[QuarantinedRow]) -> BTreeMap<&'static str, usize> {
    let mut by_check = BTreeMap::new();
    for r in rejected {
        *by_check.entry(r.check.as_str()).or_insert(0) += 1;
    }
    by_check
}
