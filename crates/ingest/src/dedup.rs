//! Duplicate keys within one file: a row repeated exactly is counted once;
//! rows that share a key but disagree are all set aside, since which is right
//! cannot be known here (the practice's period then shows as missing).
//!
//! A conflict can show up after the first row with its key has been built
//! (and perhaps spooled), so those first rows are noted while the file is
//! read and taken out of its batches once it has been read to its end.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::field::Value;
use crate::shape::Shape;
use crate::{Check, IngestError, QuarantinedRow, Result};

/// The first row seen with a key, to tell a repeated row from a conflicting
/// one. Sixteen bytes: the map is probed at random, one probe a row, and
/// nationally a month's prescribing file holds 860,000 keys, which at 32
/// bytes an entry (with the key) fit the cache far better than at 48.
struct FirstWithKey {
    /// Its index among the rows built so far.
    row: u32,
    line: u32,
    /// The hash of the whole row with its lowest bit cleared; the bit is
    /// set once a later row with its key disagreed and the row was set aside.
    values: u64,
}

impl FirstWithKey {
    const CONFLICTED: u64 = 1;

    fn conflicted(&self) -> bool {
        self.values & Self::CONFLICTED != 0
    }

    fn same_values(&self, values_hash: u64) -> bool {
        self.values & !Self::CONFLICTED == values_hash & !Self::CONFLICTED
    }
}

/// This process's secret for the key hashes, drawn once from the operating
/// system's randomness (as `HashMap`'s own is): a file cannot be crafted so
/// that its keys collide in the map below, which uses the hash as it is.
fn secret() -> SipHasher13 {
    static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
    let &(k0, k1) = KEYS.get_or_init(|| {
        let random = RandomState::new();
        (random.hash_one(0u8), random.hash_one(1u8))
    });
    SipHasher13::new_with_keys(k0, k1)
}

/// A map keyed by a keyed 128-bit hash, which is already as good a hash as
/// the map's own: hashing it again cost a quarter of the duplicate check.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else is still hashed soundly.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
}

/// The keys seen so far in one file.
pub(crate) struct Duplicates<'s> {
    shape: &'s Shape,
    key_columns: Vec<usize>,
    /// The columns that are not part of the key.
    other_columns: Vec<usize>,
    hasher: SipHasher13,
    /// Keys as 128-bit hashes: a national file has millions of rows, and
    /// holding each key's text would double the memory a file takes to read.
    /// Two rows' keys collide with odds near 2^-128.
    first_with_key: HashMap<u128, FirstWithKey, BuildHasherDefault<AlreadyHashed>>,
    /// Rows already built that a later, conflicting row with their key sets
    /// aside: (row, line, reason).
    conflicted_rows: Vec<(usize, usize, String)>,
}

impl<'s> Duplicates<'s> {
    pub(crate) fn new(shape: &'s Shape) -> Self {
        let key_columns = shape.key_columns();
        let other_columns = (0..shape.columns.len())
            .filter(|i| !key_columns.contains(i))
            .collect();
        Duplicates {
            shape,
            key_columns,
            other_columns,
            hasher: secret(),
            first_with_key: HashMap::default(),
            conflicted_rows: Vec::new(),
        }
    }

    /// Checks a row that would be built as row `row`, read at `line`: Ok
    /// when its key is new, otherwise why it is set aside. A conflict also
    /// marks the first row with the key (see [`Duplicates::into_conflicts`]).
    pub(crate) fn check(
        &mut self,
        values: &[Value],
        row: usize,
        line: usize,
    ) -> Result<(), String> {
        // One pass: the key's hash, then, carrying on from it, the hash of
        // the whole row (rows with the same key differ, if at all, in the
        // other columns).
        let mut h = self.hasher;
        for &i in &self.key_columns {
            values[i].hash_into(&mut h);
        }
        let key = h.finish128().as_u128();
        for &i in &self.other_columns {
            values[i].hash_into(&mut h);
        }
        let values_hash = h.finish128().h1;
        let mut e = match self.first_with_key.entry(key) {
            Entry::Vacant(e) => {
                // Four billion lines is a file of hundreds of gigabytes; one
                // that long is said so row by row, never wrapped round.
                let (Ok(row), Ok(line)) = (u32::try_from(row), u32::try_from(line)) else {
                    return Err(format!(
                        "a file of more than {} lines cannot be checked for repeated keys: split it",
                        u32::MAX
                    ));
                };
                e.insert(FirstWithKey {
                    row,
                    line,
                    values: values_hash & !FirstWithKey::CONFLICTED,
                });
                return Ok(());
            }
            Entry::Occupied(e) => e,
        };
        let described = self
            .key_columns
            .iter()
            .map(|&i| format!("{} {}", self.shape.columns[i].name, values[i].display()))
            .collect::<Vec<_>>()
            .join(", ");
        let first = e.get_mut();
        if first.same_values(values_hash) && !first.conflicted() {
            return Err(format!(
                "duplicate of line {} ({described}): the row is counted once",
                first.line
            ));
        }
        if !first.conflicted() {
            first.values |= FirstWithKey::CONFLICTED;
            self.conflicted_rows.push((
                first.row as usize,
                first.line as usize,
                format!(
                    "line {line} has the same key ({described}) with different values: neither row is loaded; send a corrected file"
                ),
            ));
        }
        Err(format!(
            "same key as line {} ({described}) with different values: neither row is loaded; send a corrected file",
            first.line
        ))
    }

    /// The rows already built that a later row contradicted.
    pub(crate) fn into_conflicts(self) -> Conflicts {
        Conflicts {
            set_aside: self
                .conflicted_rows
                .into_iter()
                .map(|(row, line, reason)| (row, (line, reason)))
                .collect(),
            offset: 0,
        }
    }
}

/// Built rows to set aside, by their index among the rows built, taken out
/// of the file's batches as they are handed on in order.
pub(crate) struct Conflicts {
    set_aside: HashMap<usize, (usize, String)>,
    /// The index of the first row of the next batch.
    offset: usize,
}

impl Conflicts {
    /// The next batch less its rows to set aside, and those rows as the
    /// quarantine keeps them.
    pub(crate) fn take_from(
        &mut self,
        batch: RecordBatch,
        source: &str,
        file: &str,
    ) -> Result<(RecordBatch, Vec<QuarantinedRow>)> {
        let (offset, n) = (self.offset, batch.num_rows());
        self.offset += n;
        let in_batch: Vec<usize> = (offset..offset + n)
            .filter(|r| self.set_aside.contains_key(r))
            .collect();
        if in_batch.is_empty() {
            return Ok((batch, Vec::new()));
        }
        let columns = batch.num_columns() - 2; // not source_file, source_line
        let rows = in_batch
            .iter()
            .map(|r| {
                let (line, reason) = &self.set_aside[r];
                QuarantinedRow::new(
                    source,
                    file,
                    *line,
                    Check::DuplicateKey,
                    reason.clone(),
                    &row_text(&batch, columns, r - offset),
                )
            })
            .collect();
        let keep: arrow::array::BooleanArray = (offset..offset + n)
            .map(|r| Some(!self.set_aside.contains_key(&r)))
            .collect();
        let batch = arrow::compute::filter_record_batch(&batch, &keep).map_err(
            IngestError::arrow(format!("{file}: setting aside rows with conflicting keys")),
        )?;
        Ok((batch, rows))
    }
}

/// A built row as comma-separated text, for the quarantine's `raw` column.
fn row_text(batch: &RecordBatch, columns: usize, row: usize) -> String {
    let options = arrow::util::display::FormatOptions::default();
    (0..columns)
        .map(|c| {
            arrow::util::display::ArrayFormatter::try_new(batch.column(c).as_ref(), &options)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{RowBuilder, schema_for};
    use crate::shape::builtin;

    /// A clinical search row's values: practice, period (days), search, name,
    /// numerator, denominator.
    fn row<'a>(practice: &'a str, search: &'a str, numerator: i64) -> Vec<Value<'a>> {
        vec![
            Value::Text(practice),
            Value::Date(Some(20726)),
            Value::Text(search),
            Value::Text("x"),
            Value::Int(Some(numerator), false),
            Value::Int(Some(100), false),
        ]
    }

    #[test]
    fn a_key_seen_takes_sixteen_bytes_beside_its_hash() {
        assert_eq!(std::mem::size_of::<FirstWithKey>(), 16);
    }

    #[test]
    fn a_row_repeated_after_a_conflict_is_a_conflict_too() {
        let shape = builtin("clinical_search").unwrap();
        let mut d = Duplicates::new(&shape);
        assert!(d.check(&row("A81001", "s", 1), 0, 2).is_ok());
        let conflict = d.check(&row("A81001", "s", 2), 1, 3).unwrap_err();
        assert!(conflict.starts_with("same key as line 2"), "{conflict}");
        // The first row's own values again: it is set aside already, so
        // this is not a harmless repeat of it.
        let again = d.check(&row("A81001", "s", 1), 1, 4).unwrap_err();
        assert!(again.starts_with("same key as line 2"), "{again}");
        assert_eq!(d.into_conflicts().set_aside.len(), 1);
    }

    #[test]
    fn a_repeated_row_is_counted_once() {
        let shape = builtin("clinical_search").unwrap();
        let mut seen = Duplicates::new(&shape);
        assert_eq!(seen.check(&row("A81001", "SMR", 10), 0, 2), Ok(()));
        assert_eq!(seen.check(&row("A81001", "DM", 10), 1, 3), Ok(()));
        assert_eq!(
            seen.check(&row("A81001", "SMR", 10), 2, 4),
            Err("duplicate of line 2 (practice_code A81001, period_end 2026-09-30, search_code SMR): the row is counted once".into())
        );
        assert!(seen.into_conflicts().set_aside.is_empty());
    }

    #[test]
    fn rows_sharing_a_key_with_different_values_are_all_set_aside() {
        let shape = builtin("clinical_search").unwrap();
        let mut seen = Duplicates::new(&shape);
        let conflict = "with different values: neither row is loaded; send a corrected file";
        assert_eq!(seen.check(&row("A81001", "SMR", 10), 0, 2), Ok(()));
        assert_eq!(seen.check(&row("A81002", "SMR", 10), 1, 3), Ok(()));
        assert_eq!(
            seen.check(&row("A81001", "SMR", 12), 2, 4),
            Err(format!(
                "same key as line 2 (practice_code A81001, period_end 2026-09-30, search_code SMR) {conflict}"
            ))
        );
        // Once in conflict, even an exact repeat of the first row is set aside.
        assert_eq!(
            seen.check(&row("A81001", "SMR", 10), 2, 5),
            Err(format!(
                "same key as line 2 (practice_code A81001, period_end 2026-09-30, search_code SMR) {conflict}"
            ))
        );

        // The first row (built as row 0) comes out of its batch when the
        // batches are handed on; a later batch is untouched.
        let mut conflicts = seen.into_conflicts();
        let schema = schema_for(&shape);
        let mut built = RowBuilder::new(&shape, schema);
        built.push(row("A81001", "SMR", 10), "f.csv", 2);
        built.push(row("A81002", "SMR", 10), "f.csv", 3);
        let first = built.finish("f.csv").unwrap();
        built.push(row("A81003", "SMR", 10), "f.csv", 6);
        let second = built.finish("f.csv").unwrap();
        let (kept, set_aside) = conflicts.take_from(first, "searches", "f.csv").unwrap();
        assert_eq!(kept.num_rows(), 1);
        assert_eq!(
            set_aside,
            vec![QuarantinedRow::new(
                "searches",
                "f.csv",
                2,
                Check::DuplicateKey,
                format!(
                    "line 4 has the same key (practice_code A81001, period_end 2026-09-30, search_code SMR) {conflict}"
                ),
                // The built row as text, its suppression flag included.
                "A81001,2026-09-30,SMR,x,10,false,100",
            )]
        );
        let (kept, set_aside) = conflicts
            .take_from(second.clone(), "searches", "f.csv")
            .unwrap();
        assert_eq!((kept, set_aside), (second, Vec::new()));
    }
}
