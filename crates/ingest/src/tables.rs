//! Reading warehouse tables back: one table queried (None when it does not
//! exist yet), and columns as text or whole numbers whatever Arrow type
//! they were stored as.

use crate::PracticeCodes;
use std::ops::Range;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray, UInt32Array};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
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

/// Text values of any string column of `table`. DataFusion reads Parquet
/// strings as `Utf8View`, so cast rather than assume `Utf8`.
pub(crate) fn strings(table: &str, array: &ArrayRef) -> Result<Vec<Option<String>>> {
    let a = as_text(array).map_err(IngestError::arrow(format!(
        "table {table}: reading a column back as text"
    )))?;
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

/// Whole numbers of any integer column of `table` (nulls as 0).
pub(crate) fn int64s(table: &str, array: &ArrayRef) -> Result<Vec<i64>> {
    let a = cast_to::<Int64Array>(array, &DataType::Int64).map_err(IngestError::arrow(format!(
        "table {table}: reading a column back as whole numbers"
    )))?;
    Ok((0..a.len())
        .map(|i| if a.is_valid(i) { a.value(i) } else { 0 })
        .collect())
}

/// The runs of consecutive rows of a file's batch that are equal in these
/// columns. `file` names the file should a column be missing.
pub(crate) fn equal_runs(
    file: &str,
    batch: &RecordBatch,
    names: &[&str],
) -> Result<Vec<Range<usize>>> {
    names
        .iter()
        .map(|name| column(batch, name))
        .collect::<std::result::Result<Vec<_>, _>>()
        .and_then(|columns| arrow::compute::partition(&columns))
        .map(|runs| runs.ranges())
        .map_err(IngestError::arrow(format!(
            "{file}: finding the runs of equal {}",
            names.join(" and ")
        )))
}

/// Some rows of a column of a file's batch as text: practice codes and
/// periods (dates, years) alike, as a cast to text writes them.
pub(crate) fn text_column_at(
    file: &str,
    batch: &RecordBatch,
    name: &str,
    rows: &UInt32Array,
) -> Result<StringArray> {
    column(batch, name)
        .and_then(|c| arrow::compute::take(&c, rows, None))
        .and_then(|c| as_text(&c))
        .map_err(IngestError::arrow(format!(
            "{file}: reading column {name} as text"
        )))
}

fn column(batch: &RecordBatch, name: &str) -> std::result::Result<ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
}

/// Any column cast to text.
fn as_text(array: &ArrayRef) -> std::result::Result<StringArray, ArrowError> {
    cast_to::<StringArray>(array, &DataType::Utf8)
}

/// A column cast to `to`, as the array type `A` of that data type.
fn cast_to<A: Array + Clone + 'static>(
    array: &ArrayRef,
    to: &DataType,
) -> std::result::Result<A, ArrowError> {
    arrow::compute::cast(array, to)?
        .as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| ArrowError::CastError(format!("{} is not a {to} array", array.data_type())))
}

/// The practice codes in the register table, if it has been loaded.
pub async fn register_codes(
    warehouse: &Warehouse,
    register_table: &str,
) -> Result<Option<PracticeCodes>> {
    let sql = format!("SELECT DISTINCT practice_code FROM {register_table}");
    let Some(batches) = query_table(warehouse, register_table, &sql).await? else {
        return Ok(None);
    };
    let mut codes = PracticeCodes::default();
    for b in batches {
        codes.extend(strings(register_table, b.column(0))?.into_iter().flatten());
    }
    Ok(Some(codes))
}
