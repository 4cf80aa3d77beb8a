//! Holding a file's checked rows until the whole file has been read: the
//! rows of a file are only loaded once every line has been read and checked,
//! so a file fails whole or loads whole, and a file of many gigabytes must
//! not be held in memory meanwhile.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::{IngestError, Result};

/// Arrow memory a file's rows may take before they are spilled to a
/// temporary file.
pub(crate) const SPOOL_MEMORY_BYTES: usize = 256 << 20;

/// A file's checked rows: in memory up to [`SPOOL_MEMORY_BYTES`], then in
/// an Arrow IPC temporary file.
pub(crate) struct Spool {
    schema: SchemaRef,
    memory: Vec<RecordBatch>,
    bytes: usize,
    pub(crate) spill: Option<arrow::ipc::writer::StreamWriter<std::io::BufWriter<std::fs::File>>>,
    spill_file: Option<tempfile::NamedTempFile>,
}

impl Spool {
    pub(crate) fn new(schema: SchemaRef) -> Spool {
        Spool {
            schema,
            memory: Vec::new(),
            bytes: 0,
            spill: None,
            spill_file: None,
        }
    }

    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let internal =
            |e: &dyn std::fmt::Display| IngestError::Internal(format!("spooling rows: {e}"));
        if let Some(w) = &mut self.spill {
            return w.write(&batch).map_err(|e| internal(&e));
        }
        self.bytes += batch.get_array_memory_size();
        self.memory.push(batch);
        if self.bytes > SPOOL_MEMORY_BYTES {
            let file = tempfile::NamedTempFile::new().map_err(|e| internal(&e))?;
            let out = std::io::BufWriter::new(file.reopen().map_err(|e| internal(&e))?);
            let mut w = arrow::ipc::writer::StreamWriter::try_new(out, &self.schema)
                .map_err(|e| internal(&e))?;
            for b in self.memory.drain(..) {
                w.write(&b).map_err(|e| internal(&e))?;
            }
            self.bytes = 0;
            self.spill = Some(w);
            self.spill_file = Some(file);
        }
        Ok(())
    }

    /// Hands every batch, in order, to `f`.
    pub(crate) fn drain(mut self, f: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let internal =
            |e: &dyn std::fmt::Display| IngestError::Internal(format!("reading spooled rows: {e}"));
        if let (Some(mut w), Some(file)) = (self.spill.take(), self.spill_file.take()) {
            w.finish().map_err(|e| internal(&e))?;
            drop(w);
            let reader = arrow::ipc::reader::StreamReader::try_new(
                std::io::BufReader::new(file.reopen().map_err(|e| internal(&e))?),
                None,
            )
            .map_err(|e| internal(&e))?;
            for b in reader {
                f(b.map_err(|e| internal(&e))?)?;
            }
            return Ok(());
        }
        for b in self.memory {
            f(b)?;
        }
        Ok(())
    }
}
