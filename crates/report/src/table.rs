//! The results table as CSV and Parquet: one row per indicator × practice ×
//! period × peer group. Column names are a contract with users' spreadsheets.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use peerbench_compare::ResultRow;

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
    "od_phi",
    "od_tau2",
    "spc_signal",
    "spc_variation",
    "spc_centre",
    "spc_lower",
    "spc_upper",
    "spc_trial",
    "trend",
    "not_compared_reason",
];

fn funnel(f: Option<peerbench_stats::FunnelFlag>) -> String {
    f.map_or("not_compared", |f| f.as_str()).to_string()
}

pub fn results_batch(rows: &[ResultRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&ResultRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let opt_text = |f: &dyn Fn(&ResultRow) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let num = |f: &dyn Fn(&ResultRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| r.indicator_id.clone()),
        text(&|r| r.practice_code.clone()),
        text(&|r| r.period.clone()),
        text(&|r| r.peer_group.clone()),
        text(&|r| r.peer_group_key.clone()),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| r.peer_group_size as i64)
                .collect::<Vec<_>>(),
        )),
        num(&|r| r.numerator),
        num(&|r| r.denominator),
        num(&|r| r.value),
        num(&|r| r.lower_95),
        num(&|r| r.upper_95),
        num(&|r| r.lower_998),
        num(&|r| r.upper_998),
        num(&|r| r.benchmark),
        num(&|r| r.peer_median),
        num(&|r| r.percentile_rank),
        text(&|r| r.comparison.as_str().to_string()),
        text(&|r| r.comparison_998.as_str().to_string()),
        num(&|r| r.funnel_lower_95),
        num(&|r| r.funnel_upper_95),
        num(&|r| r.funnel_lower_998),
        num(&|r| r.funnel_upper_998),
        text(&|r| funnel(r.funnel_flag)),
        text(&|r| funnel(r.funnel_flag_unadjusted)),
        num(&|r| r.od_phi),
        num(&|r| r.od_tau2),
        text(&|r| r.spc_signal.unwrap_or_default().to_string()),
        opt_text(&|r| r.spc_variation.map(str::to_string)),
        num(&|r| r.spc_centre),
        num(&|r| r.spc_lower),
        num(&|r| r.spc_upper),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.spc_trial).collect::<Vec<_>>(),
        )),
        text(&|r| r.trend.to_string()),
        opt_text(&|r| r.not_compared_reason.clone()),
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
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| ReportError::Internal(e.to_string()))
}

/// Writes the rows as Parquet, a batch of `BATCH_ROWS` at a time, so a
/// national table (millions of rows) is never held as Arrow arrays at once.
pub fn write_parquet(path: &Path, rows: &[ResultRow]) -> Result<()> {
    const BATCH_ROWS: usize = 65_536;
    let file = File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let first = results_batch(&rows[..rows.len().min(BATCH_ROWS)])?;
    let mut writer = ArrowWriter::try_new(file, first.schema(), None)
        .map_err(|e| ReportError::Internal(e.to_string()))?;
    writer
        .write(&first)
        .map_err(|e| ReportError::Internal(e.to_string()))?;
    for chunk in rows.chunks(BATCH_ROWS).skip(1) {
        writer
            .write(&results_batch(chunk)?)
            .map_err(|e| ReportError::Internal(e.to_string()))?;
    }
    writer
        .close()
        .map_err(|e| ReportError::Internal(e.to_string()))?;
    Ok(())
}

/// Numbers are written in full precision; spreadsheets format them.
fn cell(x: Option<f64>) -> String {
    x.map(|v| format!("{v}")).unwrap_or_default()
}

/// Writes result rows as CSV; rows may be borrowed or made on the fly (a
/// disclosure policy applied row by row), so nothing is copied up front.
pub fn write_csv<R: std::borrow::Borrow<ResultRow>>(
    path: &Path,
    rows: impl IntoIterator<Item = R>,
) -> Result<()> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| ReportError::Internal(format!("{}: {e}", path.display())))?;
    let io = |e: csv::Error| ReportError::Internal(format!("{}: {e}", path.display()));
    w.write_record(RESULT_COLUMNS).map_err(io)?;
    for r in rows {
        let r = r.borrow();
        w.write_record([
            r.indicator_id.clone(),
            r.practice_code.clone(),
            r.period.clone(),
            r.peer_group.clone(),
            r.peer_group_key.clone(),
            r.peer_group_size.to_string(),
            cell(r.numerator),
            cell(r.denominator),
            cell(r.value),
            cell(r.lower_95),
            cell(r.upper_95),
            cell(r.lower_998),
            cell(r.upper_998),
            cell(r.benchmark),
            cell(r.peer_median),
            cell(r.percentile_rank),
            r.comparison.as_str().to_string(),
            r.comparison_998.as_str().to_string(),
            cell(r.funnel_lower_95),
            cell(r.funnel_upper_95),
            cell(r.funnel_lower_998),
            cell(r.funnel_upper_998),
            funnel(r.funnel_flag),
            funnel(r.funnel_flag_unadjusted),
            cell(r.od_phi),
            cell(r.od_tau2),
            r.spc_signal.unwrap_or_default().to_string(),
            r.spc_variation.unwrap_or_default().to_string(),
            cell(r.spc_centre),
            cell(r.spc_lower),
            cell(r.spc_upper),
            r.spc_trial.map(|t| t.to_string()).unwrap_or_default(),
            r.trend.to_string(),
            r.not_compared_reason.clone().unwrap_or_default(),
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// The "since last time" list as CSV.
pub fn changes_csv(changes: &[peerbench_compare::Change]) -> String {
    let mut out =
        String::from("indicator_id,practice_code,period,previous_period,change,now,before\n");
    for c in changes {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            c.indicator_id,
            c.practice_code,
            c.period,
            c.previous_period,
            c.kind.as_str(),
            c.now,
            c.before
        ));
    }
    out
}
