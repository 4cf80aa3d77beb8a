//! The warehouse: one Delta Lake table of Parquet files per source, in a
//! folder on local disk (or, later, an object store), read through DataFusion.
//!
//! Every write is one Delta commit, so a load is atomic — readers see the
//! previous version or the next, never half of one — and any earlier version
//! can be read back. This crate knows nothing about extracts or indicators.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use url::Url;

pub use deltalake::kernel::Version;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse location {location:?} is not a folder or URL peerbench can use: {reason}")]
    BadLocation { location: String, reason: String },
    #[error("cannot create warehouse folder {path}: {source}")]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("table {table:?} is not in the warehouse at {location} (tables there: {available})")]
    NoSuchTable {
        table: String,
        location: String,
        available: String,
    },
    #[error("table name {0:?} is not allowed: use lower-case letters, digits and underscores")]
    BadTableName(String),
    #[error("Delta Lake error on table {table:?}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("query engine error: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// A warehouse location: a folder holding one Delta table per sub-folder.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
    local_root: Option<PathBuf>,
}

/// What one write committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub table: String,
    pub version: Version,
    pub rows: usize,
}

fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Warehouse {
    /// Opens (creating if needed) a warehouse in a local folder.
    pub fn local(path: &Path) -> Result<Warehouse> {
        std::fs::create_dir_all(path).map_err(|source| WarehouseError::CreateFolder {
            path: path.to_path_buf(),
            source,
        })?;
        let abs = path
            .canonicalize()
            .map_err(|source| WarehouseError::CreateFolder {
                path: path.to_path_buf(),
                source,
            })?;
        let root = Url::from_directory_path(&abs).map_err(|()| WarehouseError::BadLocation {
            location: abs.display().to_string(),
            reason: "not an absolute path".into(),
        })?;
        Ok(Warehouse {
            root,
            local_root: Some(abs),
        })
    }

    pub fn location(&self) -> String {
        match &self.local_root {
            Some(p) => p.display().to_string(),
            None => self.root.to_string(),
        }
    }

    fn table_url(&self, table: &str) -> Result<Url> {
        if !valid_table_name(table) {
            return Err(WarehouseError::BadTableName(table.to_string()));
        }
        self.root
            .join(&format!("{table}/"))
            .map_err(|e| WarehouseError::BadLocation {
                location: self.root.to_string(),
                reason: e.to_string(),
            })
    }

    fn delta_error(table: &str) -> impl FnOnce(deltalake::DeltaTableError) -> WarehouseError + '_ {
        move |source| WarehouseError::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    /// The tables present, sorted by name.
    pub fn tables(&self) -> Result<Vec<String>> {
        let Some(root) = &self.local_root else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        let entries = std::fs::read_dir(root).map_err(|source| WarehouseError::CreateFolder {
            path: root.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if valid_table_name(&name) && entry.path().join("_delta_log").is_dir() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Latest committed version of a table, or None if it does not exist yet.
    pub async fn version(&self, table: &str) -> Result<Option<Version>> {
        let url = self.table_url(table)?;
        if let Some(root) = &self.local_root
            && !root.join(table).join("_delta_log").is_dir()
        {
            return Ok(None);
        }
        let t = deltalake::open_table(url)
            .await
            .map_err(Self::delta_error(table))?;
        Ok(t.version())
    }

    /// Replaces the whole content of `table` with `batches` in one commit,
    /// recording `metadata` in the commit so the load can be traced later.
    pub async fn overwrite(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<Commit> {
        self.write(table, schema, batches, metadata, SaveMode::Overwrite)
            .await
    }

    /// Adds `batches` to `table` in one commit.
    pub async fn append(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<Commit> {
        self.write(table, schema, batches, metadata, SaveMode::Append)
            .await
    }

    async fn write(
        &self,
        table: &str,
        schema: SchemaRef,
        mut batches: Vec<RecordBatch>,
        metadata: HashMap<String, serde_json::Value>,
        mode: SaveMode,
    ) -> Result<Commit> {
        let url = self.table_url(table)?;
        if let Some(root) = &self.local_root {
            let dir = root.join(table);
            std::fs::create_dir_all(&dir)
                .map_err(|source| WarehouseError::CreateFolder { path: dir, source })?;
        }
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        if batches.is_empty() {
            // An empty load still commits, so the table exists with its schema.
            batches.push(RecordBatch::new_empty(schema));
        }
        // A new table is built without loading: there is no log to read yet.
        let delta = if self.version(table).await?.is_some() {
            DeltaTable::try_from_url(url).await
        } else {
            deltalake::DeltaTableBuilder::from_url(url).and_then(|b| b.build())
        }
        .map_err(Self::delta_error(table))?;
        let written = delta
            .write(batches)
            .with_save_mode(mode)
            .with_table_name(table)
            .with_commit_properties(CommitProperties::default().with_metadata(metadata))
            .await
            .map_err(Self::delta_error(table))?;
        Ok(Commit {
            table: table.to_string(),
            version: written.version().unwrap_or_default(),
            rows,
        })
    }

    /// Registers `table` (at `version`, or the latest) in a DataFusion session.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        table: &str,
        version: Option<Version>,
    ) -> Result<Version> {
        let url = self.table_url(table)?;
        let exists = match &self.local_root {
            Some(root) => root.join(table).join("_delta_log").is_dir(),
            None => true,
        };
        if !exists {
            return Err(WarehouseError::NoSuchTable {
                table: table.to_string(),
                location: self.location(),
                available: self.tables()?.join(", "),
            });
        }
        let delta = match version {
            Some(v) => deltalake::open_table_with_version(url, v).await,
            None => deltalake::open_table(url).await,
        }
        .map_err(Self::delta_error(table))?;
        delta
            .update_datafusion_session(&ctx.state())
            .map_err(Self::delta_error(table))?;
        let provider = delta.table_provider().await?;
        ctx.register_table(table, provider)?;
        Ok(delta.version().unwrap_or_default())
    }

    /// A session with every table of the warehouse registered at its latest
    /// version; returns the versions read, for the run's provenance.
    pub async fn session(&self) -> Result<(SessionContext, Vec<(String, Version)>)> {
        let ctx = SessionContext::new();
        let mut versions = Vec::new();
        for table in self.tables()? {
            let v = self.register(&ctx, &table, None).await?;
            versions.push((table, v));
        }
        Ok((ctx, versions))
    }
}

/// Collects a query's result into batches (a convenience for callers and tests).
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(codes: &[&str], counts: &[i64]) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("practice_code", DataType::Utf8, false),
            Field::new("patients", DataType::Int64, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(codes.to_vec())),
                Arc::new(Int64Array::from(counts.to_vec())),
            ],
        )
        .unwrap();
        (schema, b)
    }

    async fn count(w: &Warehouse, version: Option<Version>) -> i64 {
        let ctx = SessionContext::new();
        w.register(&ctx, "patients", version).await.unwrap();
        let out = collect(&ctx, "SELECT sum(patients) AS s FROM patients")
            .await
            .unwrap();
        out[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    }

    #[tokio::test]
    async fn overwrite_commits_versions_that_can_be_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        assert_eq!(w.version("patients").await.unwrap(), None);
        let (schema, b) = batch(&["A81001", "A81002"], &[100, 200]);
        let c0 = w
            .overwrite("patients", schema.clone(), vec![b], HashMap::new())
            .await
            .unwrap();
        let (_, b) = batch(&["A81001"], &[7]);
        let c1 = w
            .overwrite("patients", schema, vec![b], HashMap::new())
            .await
            .unwrap();
        assert_eq!((c0.version, c1.version), (0, 1));
        assert_eq!(count(&w, None).await, 7);
        assert_eq!(count(&w, Some(0)).await, 300);
        assert_eq!(w.tables().unwrap(), vec!["patients".to_string()]);
    }

    #[tokio::test]
    async fn unknown_table_names_the_ones_there() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        let (schema, b) = batch(&["A81001"], &[1]);
        w.overwrite("patients", schema, vec![b], HashMap::new())
            .await
            .unwrap();
        let err = w
            .register(&SessionContext::new(), "appointments", None)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("appointments") && msg.contains("patients"),
            "{msg}"
        );
        assert!(matches!(
            w.register(&SessionContext::new(), "../x", None).await,
            Err(WarehouseError::BadTableName(_))
        ));
    }
}
