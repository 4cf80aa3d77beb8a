//! A source as the pipeline declares it, and its limits on rows set aside:
//! above `warn_rejected_pct` the load is flagged, above `max_rejected_pct`
//! the source is refused.

use crate::outcome::{FileOutcome, count_by_check};
use crate::{IngestError, QuarantinedRow, Shape};

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
    /// opens before it is an unbalanced quote ([`crate::MAX_QUOTED_LINES`] by default).
    pub max_quoted_lines: usize,
}

/// The rows a source's files held, for its rejection thresholds: a file that
/// could not be read at all counts as one row read (and rejected).
pub(crate) fn rows_read(files: &[FileOutcome]) -> usize {
    files
        .iter()
        .map(|f| if f.error.is_some() { 1 } else { f.rows_read })
        .sum()
}

/// The warning for a source whose share of set-aside rows is above its
/// `warn_rejected_pct` (a file that could not be read counts as one row).
pub(crate) fn rejection_warning(source: &Source, files: &[FileOutcome]) -> Option<String> {
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

/// The source as a whole is refused when more than `max_rejected_pct` of its
/// rows failed (a file that could not be read counts as one row read and
/// rejected): something is systematically wrong.
pub(crate) fn too_many_rejected(
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
