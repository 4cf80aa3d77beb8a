//! The results table as CSV and Parquet: one row per indicator × practice ×
//! period × peer group. Column names are a contract with users' spreadsheets.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, ZstdLevel};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{
    ColumnChunkMetaData, PageIndexPolicy, ParquetMetaData, ParquetMetaDataOptions,
    ParquetMetaDataReader,
};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use peerbench_compare::ResultRow;

use crate::inputs::Sha;
use crate::safe_csv::{Cell, CsvWriter, csv_bytes};
use crate::{ReportError, Result};

/// The published columns, in order.
pub const RESULT_COLUMNS: &[&str] = &[
    "indicator_id",
    "practice_code",
    "period",
    "peer_group",
    "peer_group_key",
    "peer_group_size",
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "benchmark",
    "peer_median",
    "percentile_rank",
    "comparison",
    "comparison_998",
    "funnel_lower_95",
    "funnel_upper_95",
    "funnel_lower_998",
    "funnel_upper_998",
    "funnel_flag",
    "funnel_flag_unadjusted",
    "funnel_z",
    "od_phi",
    "od_tau2",
    "spc_signal",
    "spc_variation",
    "spc_value",
    "spc_centre",
    "spc_lower",
    "spc_upper",
    "spc_trial",
    "spc_seasonally_adjusted",
    "trend",
    "not_compared_reason",
];

fn funnel(f: Option<peerbench_stats::FunnelFlag>) -> &'static str {
    f.map_or("not_compared", |f| f.as_str())
}

/// The rule behind a special cause; empty (not null) when there is none.
fn spc_signal(r: &ResultRow) -> &'static str {
    r.spc_signal.map_or("", |s| s.as_str())
}

pub fn results_batch(rows: &[ResultRow]) -> Result<RecordBatch> {
    // Text columns borrow the rows' strings: a `String` a cell was about a
    // fifth of writing the Parquet file (70 million cells at 24 months).
    let text = |f: &dyn for<'r> Fn(&'r ResultRow) -> &'r str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let opt_text = |f: &dyn for<'r> Fn(&'r ResultRow) -> Option<&'r str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let num = |f: &dyn Fn(&ResultRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| &r.indicator_id),
        text(&|r| &r.practice_code),
        text(&|r| &r.period),
        text(&|r| &r.peer_group),
        text(&|r| &r.peer_group_key),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| r.peer_group_size as i64)
                .collect::<Vec<_>>(),
        )),
        num(&|r| r.numerator.get()),
        num(&|r| r.denominator.get()),
        num(&|r| r.value.get()),
        num(&|r| r.lower_95.get()),
        num(&|r| r.upper_95.get()),
        num(&|r| r.lower_998.get()),
        num(&|r| r.upper_998.get()),
        num(&|r| r.benchmark.get()),
        num(&|r| r.peer_median.get()),
        num(&|r| r.percentile_rank.get()),
        text(&|r| r.comparison.as_str()),
        text(&|r| r.comparison_998.as_str()),
        num(&|r| r.funnel_lower_95.get()),
        num(&|r| r.funnel_upper_95.get()),
        num(&|r| r.funnel_lower_998.get()),
        num(&|r| r.funnel_upper_998.get()),
        text(&|r| funnel(r.funnel_flag)),
        text(&|r| funnel(r.funnel_flag_unadjusted)),
        num(&|r| r.funnel_z.get()),
        num(&|r| r.od_phi.get()),
        num(&|r| r.od_tau2.get()),
        text(&|r| spc_signal(r)),
        opt_text(&|r| r.spc_variation.map(|v| v.as_str())),
        num(&|r| r.spc_value.get()),
        num(&|r| r.spc_centre.get()),
        num(&|r| r.spc_lower.get()),
        num(&|r| r.spc_upper.get()),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.spc_trial).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter()
                .map(|r| r.spc_seasonally_adjusted)
                .collect::<Vec<_>>(),
        )),
        text(&|r| r.trend.as_str()),
        opt_text(&|r| r.not_compared_reason.as_deref()),
    ];
    let fields: Vec<Field> = RESULT_COLUMNS
        .iter()
        .zip(&columns)
        .map(|(name, col)| {
            Field::new(
                *name,
                col.data_type().clone(),
                !matches!(col.data_type(), DataType::Int64),
            )
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Writes the rows as Parquet: a row group per indicator (more than one
/// for an indicator of over [`MOST_GROUP_ROWS`] rows), so a reader
/// filtering by indicator skips the rest, and so a row group whose rows
/// are the same as one of the live file's is copied from it, not encoded
/// and compressed again (`earlier`). Rows are made into Arrow arrays a
/// batch of `BATCH_ROWS` at a time, so a national table (millions of rows)
/// is never held as Arrow arrays at once. Returns each row group's key (the
/// SHA-256 of its rows, see [`crate::inputs::rows_key`]), in order, and how
/// many were copied.
pub fn write_parquet(
    path: &Path,
    rows: &[ResultRow],
    earlier: Option<&EarlierRowGroups>,
) -> Result<(Vec<Sha>, usize)> {
    const BATCH_ROWS: usize = 65_536;
    let file = File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let parquet = |source| ReportError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let schema = results_batch(&[])?.schema();
    // zstd: the table's floats barely repeat, and uncompressed it was 312 MB
    // at national scale against 172 MB compressed, for a second of CPU.
    let mut props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    // Numbers plain, not through a dictionary: nearly every value differs,
    // and in an indicator's row group (100,000 rows nationally) the whole
    // column fits the dictionary, which then only adds its indices (18% more
    // in all); in larger row groups the writer gave up on it part way.
    for field in schema.fields() {
        if field.data_type() == &DataType::Float64 {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    let props = props.build();
    // The Arrow writer names the Arrow schema in the file's metadata; its
    // lower half then writes row groups as they come, made or copied.
    let (mut writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(parquet)?;
    let (mut keys, mut copied) = (Vec::new(), 0);
    for group in row_groups(rows) {
        let key = crate::inputs::rows_key(ROW_GROUP, group);
        keys.push(key);
        if let Some(earlier) = earlier
            && earlier
                .copy(&key, group.len(), &mut writer)
                .map_err(parquet)?
        {
            copied += 1;
            continue;
        }
        let mut columns = factory
            .create_column_writers(writer.flushed_row_groups().len())
            .map_err(parquet)?;
        for chunk in group.chunks(BATCH_ROWS) {
            let batch = results_batch(chunk)?;
            let mut column = columns.iter_mut();
            for (array, field) in batch.columns().iter().zip(schema.fields()) {
                for leaf in compute_leaves(field, array).map_err(parquet)? {
                    column
                        .next()
                        .expect("a writer for every leaf")
                        .write(&leaf)
                        .map_err(parquet)?;
                }
            }
        }
        let mut row_group = writer.next_row_group().map_err(parquet)?;
        for column in columns {
            column
                .close()
                .and_then(|chunk| chunk.append_to_row_group(&mut row_group))
                .map_err(parquet)?;
        }
        row_group.close().map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    Ok((keys, copied))
}

/// What a row group's key is the hash of, beside its rows.
const ROW_GROUP: &str = "results table row group";

/// The most rows a row group holds: Parquet writers' usual limit.
const MOST_GROUP_ROWS: usize = 1 << 20;

/// The rows in row groups: each indicator's run of rows, split where it
/// is longer than [`MOST_GROUP_ROWS`].
fn row_groups(rows: &[ResultRow]) -> Vec<&[ResultRow]> {
    rows.chunk_by(|a, b| a.indicator_id == b.indicator_id)
        .flat_map(|indicator| indicator.chunks(MOST_GROUP_ROWS))
        .collect()
}

/// A column chunk's description as the writer made it. Read back, its
/// statistics no longer say that the writer also wrote them in the fields
/// older readers use (for columns that sort as signed numbers), and copied
/// as they are read they would lose those fields.
fn as_written(chunk: &ColumnChunkMetaData) -> parquet::errors::Result<ColumnChunkMetaData> {
    let Some(statistics) = chunk.statistics() else {
        return Ok(chunk.clone());
    };
    let signed = chunk.column_descr().sort_order().is_signed();
    let statistics = match statistics.clone() {
        Statistics::Boolean(s) => Statistics::Boolean(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int32(s) => Statistics::Int32(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int64(s) => Statistics::Int64(s.with_backwards_compatible_min_max(signed)),
        Statistics::Int96(s) => Statistics::Int96(s.with_backwards_compatible_min_max(signed)),
        Statistics::Float(s) => Statistics::Float(s.with_backwards_compatible_min_max(signed)),
        Statistics::Double(s) => Statistics::Double(s.with_backwards_compatible_min_max(signed)),
        Statistics::ByteArray(s) => {
            Statistics::ByteArray(s.with_backwards_compatible_min_max(signed))
        }
        Statistics::FixedLenByteArray(s) => {
            Statistics::FixedLenByteArray(s.with_backwards_compatible_min_max(signed))
        }
    };
    chunk
        .clone()
        .into_builder()
        .set_statistics(statistics)
        .build()
}

/// The live results table's row groups, by the SHA-256 of their rows (as
/// [`write_parquet`] returned them and the publication kept them), to be
/// copied where a new row group's rows are the same.
pub struct EarlierRowGroups {
    file: File,
    metadata: ParquetMetaData,
    by_key: std::collections::HashMap<Sha, usize>,
}

impl EarlierRowGroups {
    /// `file`'s row groups, keyed as `keys` says (row group index, key).
    /// None when the file cannot be read as Parquet with its page index.
    pub fn new(file: File, keys: impl IntoIterator<Item = (usize, Sha)>) -> Option<Self> {
        // As written: the page encoding statistics in full, not as a mask,
        // so a copied chunk's description is the one a fresh write makes.
        let options = ParquetMetaDataOptions::default().with_encoding_stats_as_mask(false);
        let metadata = ParquetMetaDataReader::new()
            .with_metadata_options(Some(options))
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&file)
            .ok()?;
        let size = file.metadata().ok()?.len();
        let groups = metadata.row_groups();
        // Only row groups whose every column chunk lies within the file.
        let fits = |i: usize| {
            groups[i].columns().iter().all(|c| {
                let (start, len) = c.byte_range();
                start.checked_add(len).is_some_and(|end| end <= size)
            })
        };
        let by_key = keys
            .into_iter()
            .filter(|&(i, _)| i < groups.len() && fits(i))
            .map(|(i, key)| (key, i))
            .collect();
        Some(EarlierRowGroups {
            file,
            metadata,
            by_key,
        })
    }

    /// Copies the row group keyed `key` into `writer` as its next row group,
    /// if there is one of `rows` rows with the writer's columns; false when
    /// there is not, and nothing was written.
    fn copy<W: Write + Send>(
        &self,
        key: &Sha,
        rows: usize,
        writer: &mut SerializedFileWriter<W>,
    ) -> parquet::errors::Result<bool> {
        let Some(&i) = self.by_key.get(key) else {
            return Ok(false);
        };
        let group = self.metadata.row_group(i);
        let same_columns =
            group.schema_descr().root_schema() == writer.schema_descr().root_schema();
        // Each column's page index, checked before anything is written.
        let columns = group.num_columns();
        let (Some(column_index), Some(offset_index)) = (
            self.metadata.column_index().and_then(|c| c.get(i)),
            self.metadata.offset_index().and_then(|o| o.get(i)),
        ) else {
            return Ok(false);
        };
        if !same_columns
            || usize::try_from(group.num_rows()).ok() != Some(rows)
            || column_index.len() != columns
            || offset_index.len() != columns
        {
            return Ok(false);
        }
        let mut row_group = writer.next_row_group()?;
        for (c, chunk) in group.columns().iter().enumerate() {
            let close = ColumnCloseResult {
                bytes_written: chunk.compressed_size() as u64,
                rows_written: group.num_rows() as u64,
                metadata: as_written(chunk)?,
                bloom_filter: None,
                column_index: Some(column_index[c].clone()),
                offset_index: Some(offset_index[c].clone()),
            };
            row_group.append_column(&self.file, close)?;
        }
        row_group.close()?;
        Ok(true)
    }
}

/// Writes result rows as CSV; rows may be borrowed or made on the fly (a
/// disclosure policy applied row by row), so nothing is copied up front.
/// Numbers are written in full precision (spreadsheets format them); text
/// is neutralised for spreadsheets (see `safe_csv`).
pub fn write_csv<R: std::borrow::Borrow<ResultRow>>(
    path: &Path,
    rows: impl IntoIterator<Item = R>,
) -> Result<()> {
    let file = create(path)?;
    csv_rows(BufWriter::new(file), path, Some(RESULT_COLUMNS), rows)?
        .flush()
        .map_err(|source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Result rows as CSV bytes, as [`write_csv`] writes them; `what` names
/// them in an error.
pub fn csv_vec<R: std::borrow::Borrow<ResultRow>>(
    what: &str,
    rows: impl IntoIterator<Item = R>,
) -> Result<Vec<u8>> {
    csv_rows(Vec::new(), Path::new(what), Some(RESULT_COLUMNS), rows)
}

/// Writes result rows as gzip-compressed CSV (`.csv.gz`), which pandas, R,
/// DuckDB and spreadsheet tools' importers read as it is: the full results
/// table at national scale is about 1.5 GB as plain CSV and a sixth of that
/// compressed. Level 6 (gzip's default) is within 2% of level 9 on this
/// table and twice as fast. Blocks of rows are written and compressed on
/// every core (see `gzip`): on one thread this file was the publication's
/// last minute at national scale, with the other core idle.
///
/// A block of rows the same as one of the `earlier` file's is copied from
/// it rather than compressed again; the blocks' places are returned.
/// A block is known by its rows (and the build of peerbench writing them)
/// rather than by the CSV they make, so a block of rows the same as last
/// time is neither written out nor compressed.
pub fn write_csv_gz(
    path: &Path,
    rows: &[ResultRow],
    earlier: Option<&crate::gzip::Earlier>,
) -> Result<Vec<crate::gzip::Placed>> {
    const BLOCK_ROWS: usize = 32_768;
    const LEVEL: u32 = 6;
    let blocks: Vec<&[ResultRow]> = rows.chunks(BLOCK_ROWS).collect();
    let key = |i: usize| {
        let what = format!("results table block, gzip level {LEVEL}, header {}", i == 0);
        crate::inputs::rows_key(&what, blocks[i])
    };
    crate::gzip::write_blocks(path, blocks.len(), LEVEL, earlier, Some(&key), |i| {
        let out = Vec::with_capacity(blocks[i].len() * 256);
        let header = if i == 0 { Some(RESULT_COLUMNS) } else { None };
        csv_rows(out, path, header, blocks[i])
    })
}

fn create(path: &Path) -> Result<File> {
    File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The rows as CSV into `out` (after the header, if given), which is
/// returned flushed.
fn csv_rows<W: Write, R: std::borrow::Borrow<ResultRow>>(
    out: W,
    path: &Path,
    header: Option<&[&str]>,
    rows: impl IntoIterator<Item = R>,
) -> Result<W> {
    let io = |source: csv::Error| ReportError::Csv {
        what: path.display().to_string(),
        source,
    };
    let mut w = match header {
        Some(header) => CsvWriter::new(out, header),
        None => Ok(CsvWriter::continuing(out)),
    }
    .map_err(io)?;
    for r in rows {
        let r = r.borrow();
        let flag = |b: Option<bool>| b.map_or("", |t| if t { "true" } else { "false" });
        w.row([
            Cell::Text(&r.indicator_id),
            Cell::Text(&r.practice_code),
            Cell::Text(&r.period),
            Cell::Text(&r.peer_group),
            Cell::Text(&r.peer_group_key),
            Cell::Whole(r.peer_group_size as u64),
            Cell::Number(r.numerator.get()),
            Cell::Number(r.denominator.get()),
            Cell::Number(r.value.get()),
            Cell::Number(r.lower_95.get()),
            Cell::Number(r.upper_95.get()),
            Cell::Number(r.lower_998.get()),
            Cell::Number(r.upper_998.get()),
            Cell::Number(r.benchmark.get()),
            Cell::Number(r.peer_median.get()),
            Cell::Number(r.percentile_rank.get()),
            Cell::Text(r.comparison.as_str()),
            Cell::Text(r.comparison_998.as_str()),
            Cell::Number(r.funnel_lower_95.get()),
            Cell::Number(r.funnel_upper_95.get()),
            Cell::Number(r.funnel_lower_998.get()),
            Cell::Number(r.funnel_upper_998.get()),
            Cell::Text(funnel(r.funnel_flag)),
            Cell::Text(funnel(r.funnel_flag_unadjusted)),
            Cell::Number(r.funnel_z.get()),
            Cell::Number(r.od_phi.get()),
            Cell::Number(r.od_tau2.get()),
            Cell::Text(spc_signal(r)),
            Cell::Text(r.spc_variation.map_or("", |v| v.as_str())),
            Cell::Number(r.spc_value.get()),
            Cell::Number(r.spc_centre.get()),
            Cell::Number(r.spc_lower.get()),
            Cell::Number(r.spc_upper.get()),
            Cell::Text(flag(r.spc_trial)),
            Cell::Text(flag(r.spc_seasonally_adjusted)),
            Cell::Text(r.trend.as_str()),
            Cell::Text(r.not_compared_reason.as_deref().unwrap_or_default()),
        ])
        .map_err(io)?;
    }
    w.finish().map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The "since last time" list as CSV.
pub fn changes_csv(changes: &[&peerbench_compare::Change]) -> Result<Vec<u8>> {
    csv_bytes(
        &[
            "indicator_id",
            "practice_code",
            "period",
            "previous_period",
            "change",
            "now",
            "before",
        ],
        changes.iter().map(|c| {
            vec![
                Cell::Text(&c.indicator_id),
                Cell::Text(&c.practice_code),
                Cell::Text(&c.period),
                Cell::Text(&c.previous_period),
                Cell::Text(c.kind.as_str()),
                Cell::Text(c.now.as_str()),
                Cell::Text(c.before.as_str()),
            ]
        }),
    )
    .map_err(|source| ReportError::Csv {
        what: "changes.csv".into(),
        source,
    })
}

#[cfg(test)]
mod parquet_tests {
    use super::*;

    fn row(indicator: &str, code: &str, value: f64) -> ResultRow {
        let mut r = crate::disclosure::tests::row(code, "2026-09", value, 100.0);
        r.indicator_id = indicator.into();
        r
    }

    fn rows(changed: f64) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for (indicator, n) in [("a", 3000), ("b", 70_000), ("c", 5)] {
            for i in 0..n {
                let v = if indicator == "b" && i == 7 {
                    changed
                } else {
                    (i % 97) as f64
                };
                rows.push(row(indicator, &format!("P{i:05}"), v));
            }
        }
        rows
    }

    /// The two files the same, or where they first differ.
    fn same_bytes(a: &Path, b: &Path) {
        let (a_bytes, b_bytes) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        let first = a_bytes.iter().zip(&b_bytes).position(|(x, y)| x != y);
        assert!(
            first.is_none() && a_bytes.len() == b_bytes.len(),
            "{} ({} bytes) and {} ({} bytes) differ at byte {first:?}",
            a.display(),
            a_bytes.len(),
            b.display(),
            b_bytes.len()
        );
    }

    fn earlier(path: &Path, keys: &[Sha]) -> EarlierRowGroups {
        EarlierRowGroups::new(File::open(path).unwrap(), keys.iter().copied().enumerate()).unwrap()
    }

    #[test]
    fn row_groups_the_same_as_the_earlier_files_are_copied_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let path = |name: &str| {
            std::env::var_os("KEEP_PARQUET")
                .map_or_else(|| path(name), |d| Path::new(&d).join(name))
        };
        let (first, copied) = write_parquet(&path("first.parquet"), &rows(1.0), None).unwrap();
        assert_eq!((first.len(), copied), (3, 0), "a row group an indicator");
        // The same rows, with the first file to copy from: every byte the same.
        let again = write_parquet(
            &path("again.parquet"),
            &rows(1.0),
            Some(&earlier(&path("first.parquet"), &first)),
        )
        .unwrap();
        assert_eq!(again, (first.clone(), 3));
        same_bytes(&path("again.parquet"), &path("first.parquet"));
        // One value changed: its row group is made again, the others copied,
        // and the file is what a fresh write of the new rows is.
        let (fresh, _) = write_parquet(&path("fresh.parquet"), &rows(2.0), None).unwrap();
        let copied = write_parquet(
            &path("copied.parquet"),
            &rows(2.0),
            Some(&earlier(&path("first.parquet"), &first)),
        )
        .unwrap();
        assert_eq!(copied, (fresh.clone(), 2));
        assert_eq!((fresh[0], fresh[2]), (first[0], first[2]));
        assert_ne!(fresh[1], first[1]);
        same_bytes(&path("copied.parquet"), &path("fresh.parquet"));
    }

    #[test]
    fn a_live_file_that_does_not_fit_its_keys_is_written_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let (first, _) = write_parquet(&path("first.parquet"), &rows(1.0), None).unwrap();
        // Not Parquet at all: nothing to copy from.
        std::fs::write(path("garbage.parquet"), b"PAR1 not really").unwrap();
        let keys = first.iter().copied().enumerate();
        assert!(
            EarlierRowGroups::new(File::open(path("garbage.parquet")).unwrap(), keys).is_none()
        );
        // Keys that name the wrong row groups (the second's key said to be the
        // first's, which has other rows): nothing copied, and the file is
        // what a fresh write is.
        let wrong = [(0, first[1]), (7, first[0])];
        let earlier =
            EarlierRowGroups::new(File::open(path("first.parquet")).unwrap(), wrong).unwrap();
        let (_, copied) =
            write_parquet(&path("again.parquet"), &rows(1.0), Some(&earlier)).unwrap();
        assert_eq!(copied, 0);
        same_bytes(&path("again.parquet"), &path("first.parquet"));
    }
}
