//! The quarantine in the warehouse: `quarantine_log` keeps every load's
//! set-aside rows by source and the table version the load committed, and
//! the `quarantine` table, rebuilt from them, is what one clean run of the
//! current files sets aside.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Int64Array, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use peerbench_warehouse::Warehouse;

use crate::tables::{int64s, query_table, strings};
use crate::{Check, IngestError, QuarantinedRow, Result};

pub const QUARANTINE_TABLE: &str = "quarantine";
/// Every load's set-aside rows, by source and the table version the load
/// committed: the `quarantine` table is rebuilt from it, so rows set aside by
/// a load survive a later run that fails, is refused or is killed.
pub const QUARANTINE_LOG_TABLE: &str = "quarantine_log";

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
    RecordBatch::try_new(quarantine_log_schema(), columns).map_err(IngestError::arrow(format!(
        "table {QUARANTINE_LOG_TABLE}: building its rows"
    )))
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
    .map_err(IngestError::arrow(format!(
        "table {QUARANTINE_TABLE}: building its rows"
    )))
}

/// Logs a load's set-aside rows against the table version it committed.
pub(crate) async fn log_rows(
    warehouse: &Warehouse,
    rows: &[QuarantinedRow],
    version: u64,
) -> Result<()> {
    let metadata = HashMap::from([(
        "peerbench.operation".to_string(),
        serde_json::json!("quarantine_log"),
    )]);
    warehouse
        .append(
            QUARANTINE_LOG_TABLE,
            quarantine_log_schema(),
            vec![quarantine_log_batch(rows, version)?],
            metadata,
        )
        .await?;
    Ok(())
}

/// The rows the load of `table` at `version` set aside, from the quarantine
/// log; None when one names a check this version does not know.
pub(crate) async fn logged_rows(
    warehouse: &Warehouse,
    table: &str,
    version: i64,
) -> Result<Option<Vec<QuarantinedRow>>> {
    let mut rejected = Vec::new();
    let quarantined = query_table(
        warehouse,
        QUARANTINE_LOG_TABLE,
        &format!(
            "SELECT file, line, check_name, reason, raw FROM {QUARANTINE_LOG_TABLE} \
             WHERE source = '{table}' AND table_version = {version} ORDER BY file, line"
        ),
    )
    .await?;
    for b in quarantined.unwrap_or_default() {
        let (file, check, reason, raw) = (
            strings(QUARANTINE_LOG_TABLE, b.column(0))?,
            strings(QUARANTINE_LOG_TABLE, b.column(2))?,
            strings(QUARANTINE_LOG_TABLE, b.column(3))?,
            strings(QUARANTINE_LOG_TABLE, b.column(4))?,
        );
        let lines = int64s(QUARANTINE_LOG_TABLE, b.column(1))?;
        for r in 0..b.num_rows() {
            let Some(check) = check[r].as_deref().and_then(Check::from_name) else {
                return Ok(None);
            };
            rejected.push(QuarantinedRow {
                source: table.to_string(),
                file: file[r].clone().unwrap_or_default(),
                line: lines[r] as usize,
                check,
                reason: reason[r].clone().unwrap_or_default(),
                raw: raw[r].clone().unwrap_or_default(),
            });
        }
    }
    Ok(Some(rejected))
}

/// Rewrites the quarantine table as `rows` when it holds anything else:
/// rows lost to an earlier run that failed or was killed before rewriting
/// it come back.
pub(crate) async fn rewrite(warehouse: &Warehouse, rows: &[QuarantinedRow]) -> Result<()> {
    if !quarantine_differs(warehouse, rows).await? {
        return Ok(());
    }
    let batch = quarantine_batch(rows)?;
    let metadata = HashMap::from([(
        "peerbench.operation".to_string(),
        serde_json::json!("quarantine"),
    )]);
    warehouse
        .overwrite(QUARANTINE_TABLE, quarantine_schema(), vec![batch], metadata)
        .await?;
    Ok(())
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
        let text = |i| strings(QUARANTINE_TABLE, b.column(i));
        let (source, file, check, reason, raw) = (text(0)?, text(1)?, text(3)?, text(4)?, text(5)?);
        let lines = int64s(QUARANTINE_TABLE, b.column(2))?;
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
