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
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use peerbench_compare::ResultRow;

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

/// Writes the rows as Parquet, a batch of `BATCH_ROWS` at a time, so a
/// national table (millions of rows) is never held as Arrow arrays at once.
pub fn write_parquet(path: &Path, rows: &[ResultRow]) -> Result<()> {
    const BATCH_ROWS: usize = 65_536;
    let file = File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let parquet = |source| ReportError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let first = results_batch(&rows[..rows.len().min(BATCH_ROWS)])?;
    // zstd: the table's floats barely repeat, and uncompressed it was 312 MB
    // at national scale against 172 MB compressed, for a second of CPU.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, first.schema(), Some(props)).map_err(parquet)?;
    writer.write(&first).map_err(parquet)?;
    for chunk in rows.chunks(BATCH_ROWS).skip(1) {
        writer.write(&results_batch(chunk)?).map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    Ok(())
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
