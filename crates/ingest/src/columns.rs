//! Arrow columns of the rows that pass: the schema a shape loads into, and
//! builders that turn checked values into batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use peerbench_warehouse::SOURCE_LINE;

use crate::field::Value;
use crate::shape::{ColumnKind, Shape};
use crate::{IngestError, Result};

/// Rows per Arrow batch while reading a file.
pub const BATCH_ROWS: usize = 65_536;

/// The schema a shape loads into: its columns, a `<name>_suppressed` flag for
/// each suppressible column, and where each row came from.
pub fn schema_for(shape: &Shape) -> SchemaRef {
    let mut fields = Vec::new();
    for c in &shape.columns {
        let (dt, suppressible) = match &c.kind {
            ColumnKind::PracticeCode | ColumnKind::Text => (DataType::Utf8, false),
            ColumnKind::Count { suppressible } => (DataType::Int64, *suppressible),
            ColumnKind::Decimal { suppressible } => (DataType::Float64, *suppressible),
            ColumnKind::Date { .. } => (DataType::Date32, false),
        };
        fields.push(Field::new(&c.name, dt, true));
        if suppressible {
            fields.push(Field::new(
                format!("{}_suppressed", c.name),
                DataType::Boolean,
                false,
            ));
        }
    }
    fields.push(Field::new("source_file", DataType::Utf8, false));
    fields.push(Field::new(SOURCE_LINE, DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder, Option<BooleanBuilder>),
    Float(Float64Builder, Option<BooleanBuilder>),
    Date(Date32Builder),
}

/// Arrow builders for a shape's columns, finished into a batch every
/// [`BATCH_ROWS`] rows.
pub(crate) struct RowBuilder {
    schema: SchemaRef,
    builders: Vec<Builder>,
    file: StringBuilder,
    line: Int64Builder,
    /// Rows built so far in this file (across batches).
    pub(crate) built: usize,
    pending: usize,
}

impl RowBuilder {
    pub(crate) fn new(shape: &Shape, schema: SchemaRef) -> RowBuilder {
        let builders = shape
            .columns
            .iter()
            .map(|c| match &c.kind {
                ColumnKind::PracticeCode | ColumnKind::Text => Builder::Text(StringBuilder::new()),
                ColumnKind::Count { suppressible } => {
                    Builder::Int(Int64Builder::new(), suppressible.then(BooleanBuilder::new))
                }
                ColumnKind::Decimal { suppressible } => Builder::Float(
                    Float64Builder::new(),
                    suppressible.then(BooleanBuilder::new),
                ),
                ColumnKind::Date { .. } => Builder::Date(Date32Builder::new()),
            })
            .collect();
        RowBuilder {
            schema,
            builders,
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            built: 0,
            pending: 0,
        }
    }

    /// Rows built since the last batch was finished.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn push(&mut self, values: Vec<Value>, file: &str, line: usize) {
        for (b, v) in self.builders.iter_mut().zip(values) {
            match (b, v) {
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Int(b, flag), Value::Int(v, suppressed)) => {
                    b.append_option(v);
                    if let Some(f) = flag {
                        f.append_value(suppressed);
                    }
                }
                (Builder::Float(b, flag), Value::Float(v, suppressed)) => {
                    b.append_option(v);
                    if let Some(f) = flag {
                        f.append_value(suppressed);
                    }
                }
                (Builder::Date(b), Value::Date(v)) => b.append_option(v),
                _ => unreachable!("values are built in the shape's column order"),
            }
        }
        self.file.append_value(file);
        self.line.append_value(line as i64);
        self.built += 1;
        self.pending += 1;
    }

    /// The rows built since the last batch, as a batch; `file` names the
    /// file they came from should Arrow refuse them.
    pub(crate) fn finish(&mut self, file: &str) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for b in &mut self.builders {
            match b {
                Builder::Text(b) => arrays.push(Arc::new(b.finish())),
                Builder::Int(b, flag) => {
                    arrays.push(Arc::new(b.finish()));
                    if let Some(f) = flag {
                        arrays.push(Arc::new(f.finish()));
                    }
                }
                Builder::Float(b, flag) => {
                    arrays.push(Arc::new(b.finish()));
                    if let Some(f) = flag {
                        arrays.push(Arc::new(f.finish()));
                    }
                }
                Builder::Date(b) => arrays.push(Arc::new(b.finish())),
            }
        }
        arrays.push(Arc::new(self.file.finish()));
        arrays.push(Arc::new(self.line.finish()));
        self.pending = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(IngestError::arrow(format!(
            "{file}: building a batch of its rows"
        )))
    }
}
