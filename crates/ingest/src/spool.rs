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

/// Why spooling failed: the temporary file itself, or Arrow writing or
/// reading it back.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(transparent)]
    TempFile(#[from] std::io::Error),
    #[error(transparent)]
    Ipc(#[from] arrow::error::ArrowError),
}

/// A file's checked rows: in memory up to [`SPOOL_MEMORY_BYTES`], then in
/// an Arrow IPC temporary file.
pub(crate) struct Spool {
    schema: SchemaRef,
    /// The file whose rows these are, for messages.
    file: String,
    memory: Vec<RecordBatch>,
    bytes: usize,
    pub(crate) spill: Option<arrow::ipc::writer::StreamWriter<std::io::BufWriter<std::fs::File>>>,
    spill_file: Option<tempfile::NamedTempFile>,
}

impl Spool {
    pub(crate) fn new(schema: SchemaRef) -> Spool {
        Spool {
            schema,
            file: String::new(),
            memory: Vec::new(),
            bytes: 0,
            spill: None,
            spill_file: None,
        }
    }

    /// Names the file whose rows these are, in messages.
    pub(crate) fn for_file(mut self, file: &str) -> Spool {
        self.file = file.to_string();
        self
    }

    fn error(&self) -> impl Fn(SpoolError) -> IngestError + '_ {
        |source| IngestError::Spool {
            file: self.file.clone(),
            source,
        }
    }

    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.try_push(batch).map_err(self.error())
    }

    fn try_push(&mut self, batch: RecordBatch) -> Result<(), SpoolError> {
        if let Some(w) = &mut self.spill {
            return Ok(w.write(&batch)?);
        }
        self.bytes += batch.get_array_memory_size();
        self.memory.push(batch);
        if self.bytes > SPOOL_MEMORY_BYTES {
            let file = tempfile::NamedTempFile::new()?;
            let out = std::io::BufWriter::new(file.reopen()?);
            let mut w = arrow::ipc::writer::StreamWriter::try_new(out, &self.schema)?;
            for b in self.memory.drain(..) {
                w.write(&b)?;
            }
            self.bytes = 0;
            self.spill = Some(w);
            self.spill_file = Some(file);
        }
        Ok(())
    }

    /// Hands every batch, in order, to `f`.
    pub(crate) fn drain(mut self, f: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let (Some(mut w), Some(file)) = (self.spill.take(), self.spill_file.take()) else {
            for b in self.memory {
                f(b)?;
            }
            return Ok(());
        };
        let error = |source: SpoolError| IngestError::Spool {
            file: self.file.clone(),
            source,
        };
        w.finish().map_err(|e| error(e.into()))?;
        drop(w);
        let reopened = file.reopen().map_err(|e| error(e.into()))?;
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::BufReader::new(reopened), None)
                .map_err(|e| error(e.into()))?;
        for b in reader {
            f(b.map_err(|e| error(e.into()))?)?;
        }
        Ok(())
    }
}
