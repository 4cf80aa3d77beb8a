//! Reading warehouse tables back: one table queried (None when it does not
//! exist yet), and columns as text or whole numbers whatever Arrow type
//! they were stored as.

use std::collections::HashSet;

use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use peerbench_warehouse::Warehouse;

use crate::{IngestError, Result};

/// Runs `sql` over one warehouse table; None when the table does not exist yet.
pub(crate) async fn query_table(
    warehouse: &Warehouse,
    table: &str,
    sql: &str,
) -> Result<Option<Vec<RecordBatch>>> {
    if warehouse.version(table).await?.is_none() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    warehouse.register(&ctx, table, None).await?;
    Ok(Some(ctx.sql(sql).await?.collect().await?))
}

/// Text values of any string column. DataFusion reads Parquet strings as
/// `Utf8View`, so cast rather than assume `Utf8`.
pub(crate) fn strings(array: &arrow::array::ArrayRef) -> Result<Vec<Option<String>>> {
    let a = as_text(array)?;
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

/// Whole numbers of any integer column (nulls as 0).
pub(crate) fn int64s(array: &arrow::array::ArrayRef) -> Result<Vec<i64>> {
    let a = arrow::compute::cast(array, &DataType::Int64)
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    let a = a
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| IngestError::Internal("expected whole numbers".into()))?;
    Ok((0..a.len())
        .map(|i| if a.is_valid(i) { a.value(i) } else { 0 })
        .collect())
}

/// A column as text: practice codes and periods (dates, years) alike.
pub(crate) fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    as_text(
        batch
            .column_by_name(name)
            .ok_or_else(|| IngestError::Internal(format!("no column {name}")))?,
    )
}

/// Any column cast to text.
fn as_text(array: &arrow::array::ArrayRef) -> Result<StringArray> {
    let text = arrow::compute::cast(array, &DataType::Utf8)
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    text.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| IngestError::Internal("expected a text column".into()))
}

/// The practice codes in the register table, if it has been loaded.
pub async fn register_codes(
    warehouse: &Warehouse,
    register_table: &str,
) -> Result<Option<HashSet<String>>> {
    let sql = format!("SELECT DISTINCT practice_code FROM {register_table}");
    let Some(batches) = query_table(warehouse, register_table, &sql).await? else {
        return Ok(None);
    };
    let mut codes = HashSet::new();
    for b in batches {
        codes.extend(strings(b.column(0))?.into_iter().flatten());
    }
    Ok(Some(codes))
}
