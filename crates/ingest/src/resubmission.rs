//! Resubmissions: a practice's later file for a period replaces its earlier
//! rows. For each practice and period only the rows of the latest-arriving
//! file with rows for it are loaded. A file arrives when its content is
//! first loaded (the ledger's earliest version for its hash); files arriving
//! in the same load are ordered by name without extensions (see
//! [`name_order`]), so `…-resubmitted.csv` and `…_v2.csv` follow `….csv`
//! and dated names follow the calendar. Files are read newest first, and a
//! file's rows for a practice and period already taken by a later file are
//! left out, counted and named — never dropped silently; the earlier file
//! stays where it is.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use arrow::array::{BooleanArray, BooleanBufferBuilder, UInt32Array};
use arrow::record_batch::RecordBatch;

use crate::outcome::FileOutcome;
use crate::tables::{equal_runs, text_column_at};
use crate::{IngestError, Result};

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

/// How files that arrive in the same load are ordered: by name without its
/// extensions, then by the whole name. Comparing whole names would put
/// `x-2026-09-resubmitted.csv` before `x-2026-09.csv` ('-' sorts before
/// '.'), making the original look like the later file.
pub(crate) fn name_order(label: &str) -> (String, String) {
    let (folder, name) = label.rsplit_once('/').unwrap_or(("", label));
    let name_without = name.strip_suffix(".gz").unwrap_or(name);
    let stem = name_without
        .rsplit_once('.')
        .map_or(name_without, |(stem, _)| stem);
    (format!("{folder}/{stem}"), label.to_string())
}

/// The order to read a source's files in: newest arrival first. `arrived`
/// is the table version at which each file content (by hash) was first
/// loaded; files never loaded arrive now, ordered among themselves by
/// [`name_order`].
pub(crate) fn newest_first(files: &[FileOutcome], arrived: &HashMap<String, i64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(arrived.get(&files[i].sha256).copied().unwrap_or(i64::MAX)),
            std::cmp::Reverse(name_order(&files[i].file)),
        )
    });
    order
}

/// Which file's rows are loaded for each practice and period, as files are
/// read newest first.
pub(crate) struct Supersession<'s> {
    /// The practice and period columns, when the source has both.
    columns: Option<(&'s str, &'s str)>,
    /// (practice, period) → the file (index) whose rows for it are loaded.
    taken: HashMap<(String, String), usize>,
    /// (earlier, later) file indices → practice-periods and rows replaced.
    replaced: BTreeMap<(usize, usize), (BTreeSet<String>, usize)>,
}

/// One file's part while it is read: the practice-periods it holds first,
/// and how many of its rows a later file replaced.
pub(crate) struct FileClaim {
    file: usize,
    mine: HashSet<(String, String)>,
    pub superseded: usize,
}

impl<'s> Supersession<'s> {
    /// For a source whose rows name a practice and a period in these
    /// columns; a source without them has no resubmissions.
    pub(crate) fn new(columns: Option<(&'s str, &'s str)>) -> Self {
        Supersession {
            columns,
            taken: HashMap::new(),
            replaced: BTreeMap::new(),
        }
    }

    /// Starts reading file `file` (its index among the source's files).
    pub(crate) fn claim(&self, file: usize) -> FileClaim {
        FileClaim {
            file,
            mine: HashSet::new(),
            superseded: 0,
        }
    }

    /// A batch of the file's rows less those whose practice and period a
    /// later file already holds (counted in the claim and in the
    /// resubmissions). `label` names the file in messages.
    pub(crate) fn keep_latest(
        &mut self,
        claim: &mut FileClaim,
        batch: RecordBatch,
        label: &str,
    ) -> Result<RecordBatch> {
        let Some((practice, period)) = self.columns else {
            return Ok(batch);
        };
        // Rows come grouped by practice and period, so the decision is made
        // once per run of equal pairs, and only a run's first row is written
        // as text: casting every row's period to text was 4% of a load.
        let runs = equal_runs(label, &batch, &[practice, period])?;
        let firsts = UInt32Array::from_iter_values(runs.iter().map(|r| r.start as u32));
        let (codes, periods) = (
            text_column_at(label, &batch, practice, &firsts)?,
            text_column_at(label, &batch, period, &firsts)?,
        );
        let mut keep = BooleanBufferBuilder::new(batch.num_rows());
        for (i, run) in runs.iter().enumerate() {
            let pair = (codes.value(i), periods.value(i));
            let owned = (pair.0.to_string(), pair.1.to_string());
            let owner = self.taken.get(&owned).copied();
            keep.append_n(run.len(), owner.is_none());
            match owner {
                None => {
                    claim.mine.insert(owned);
                }
                Some(later) => {
                    claim.superseded += run.len();
                    let entry = self.replaced.entry((claim.file, later)).or_default();
                    entry.0.insert(format!("{} {}", pair.0, pair.1));
                    entry.1 += run.len();
                }
            }
        }
        let keep = BooleanArray::new(keep.finish(), None);
        if keep.true_count() == batch.num_rows() {
            return Ok(batch);
        }
        arrow::compute::filter_record_batch(&batch, &keep).map_err(IngestError::arrow(format!(
            "{label}: leaving out rows a later file resubmitted"
        )))
    }

    /// Once the file has been read: its practice-periods are taken, so
    /// earlier files' rows for them are left out.
    pub(crate) fn settle(&mut self, claim: FileClaim) {
        for pair in claim.mine {
            self.taken.entry(pair).or_insert(claim.file);
        }
    }

    /// What was replaced, by which file, named as in `files`.
    pub(crate) fn resubmissions(self, files: &[FileOutcome]) -> Vec<Resubmission> {
        self.replaced
            .into_iter()
            .map(
                |((earlier, later), (practice_periods, rows))| Resubmission {
                    earlier: files[earlier].file.clone(),
                    later: files[later].file.clone(),
                    practice_periods: practice_periods.into_iter().collect(),
                    rows,
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
