//! The warehouse: one Delta Lake table of Parquet files per source, in a
//! folder on local disk or under a prefix of an S3-compatible object store,
//! read through DataFusion.
//!
//! Every write is one Delta commit, so a load is atomic — readers see the
//! previous version or the next, never half of one — and any earlier version
//! can be read back. This crate knows nothing about extracts or indicators.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::parquet::basic::{Compression, Encoding};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as StorePath;
use url::Url;

pub use deltalake::kernel::Version;
pub use lock::{HEARTBEAT, Holder, LOCK_NAME, LockError, RunLock, TakenOver};

mod lock;
mod objects;

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
    #[error(
        "object store error at {location}: {source} (S3 settings come from the AWS_* environment variables; see docs/operations.md)"
    )]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error(
        "table {table:?} was changed by another writer while this one was replacing it (two loads at once?); nothing of this write was committed: run again once the other has finished"
    )]
    ConcurrentWrite { table: String },
    #[error(
        "table {table:?} version {version} can no longer be read: {reason} (a version whose files were vacuumed or removed cannot be reproduced)"
    )]
    VersionGone {
        table: String,
        version: Version,
        reason: String,
    },
    #[error("cannot read or write {key}: {source}")]
    Object {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "table {table:?} uses {what}, so its Parquet files alone do not hold its rows: it cannot be read by a cluster engine (use engine = \"local\")"
    )]
    NotPlainFiles { table: String, what: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("query engine error: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// A warehouse location: a folder (or object-store prefix) holding one Delta
/// table per sub-folder.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Url,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    /// An object store whose "/" is the bucket root, and the warehouse's
    /// prefix inside it.
    Remote {
        store: Arc<dyn ObjectStore>,
        prefix: StorePath,
    },
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
            backend: Backend::Local(abs),
        })
    }

    /// Opens a warehouse by location: `s3://bucket/prefix` for an
    /// S3-compatible store, anything else is a local folder.
    pub fn open(location: &str) -> Result<Warehouse> {
        if is_url(location) {
            let url = Url::parse(location).map_err(|e| WarehouseError::BadLocation {
                location: location.to_string(),
                reason: e.to_string(),
            })?;
            Warehouse::object_store(&url)
        } else {
            Warehouse::local(Path::new(location))
        }
    }

    /// A warehouse under `s3://bucket/prefix`. Credentials, region and
    /// endpoint come from the environment as the AWS tools read them
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL` for an S3-compatible server, `AWS_ALLOW_HTTP`).
    pub fn object_store(url: &Url) -> Result<Warehouse> {
        let store = s3_store(url)?;
        register_s3_log_store();
        let prefix = StorePath::from(url.path().trim_matches('/'));
        let mut root = url.clone();
        root.set_path(&format!("/{prefix}/").replace("//", "/"));
        Ok(Warehouse {
            root,
            backend: Backend::Remote { store, prefix },
        })
    }

    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(p) => p.display().to_string(),
            Backend::Remote { .. } => self.root.to_string(),
        }
    }

    /// A table builder that reads and writes through this warehouse's store.
    fn builder(&self, url: Url) -> Result<DeltaTableBuilder, DeltaTableError> {
        let builder = DeltaTableBuilder::from_url(url.clone())?;
        Ok(match &self.backend {
            Backend::Local(_) => builder,
            Backend::Remote { store, .. } => builder.with_storage_backend(store.clone(), url),
        })
    }

    /// Whether `table` has a Delta log, without reading it.
    async fn exists(&self, table: &str) -> Result<bool> {
        match &self.backend {
            Backend::Local(root) => Ok(root.join(table).join("_delta_log").is_dir()),
            Backend::Remote { store, prefix } => {
                let log = prefix.clone().join(table).join("_delta_log");
                let first = store.list(Some(&log)).try_next().await.map_err(|source| {
                    WarehouseError::Store {
                        location: self.location(),
                        source,
                    }
                })?;
                Ok(first.is_some())
            }
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

    /// How a write's error is reported: a commit that lost the race with
    /// another writer says so, since the fix is to wait, not to repair.
    fn write_error(table: &str) -> impl FnOnce(deltalake::DeltaTableError) -> WarehouseError + '_ {
        move |source| match source {
            deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: deltalake::kernel::transaction::TransactionError::MaxCommitAttempts(_),
            } => WarehouseError::ConcurrentWrite {
                table: table.to_string(),
            },
            source => Self::delta_error(table)(source),
        }
    }

    /// Commit properties for a write. A replacement (overwrite) is never
    /// retried on top of a commit that landed after the version it read:
    /// Delta's conflict checker lets an overwrite without a predicate commit
    /// after a concurrent one, which would keep both loads' rows (a table
    /// holding every row twice). Appends may retry: stacking is what they do.
    fn commit_properties(
        mode: SaveMode,
        metadata: HashMap<String, serde_json::Value>,
    ) -> CommitProperties {
        let properties = CommitProperties::default().with_metadata(metadata);
        if mode == SaveMode::Overwrite {
            properties.with_max_retries(0)
        } else {
            properties
        }
    }

    /// The tables present, sorted by name.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let candidates: Vec<String> = match &self.backend {
            Backend::Local(root) => {
                let entries =
                    std::fs::read_dir(root).map_err(|source| WarehouseError::CreateFolder {
                        path: root.clone(),
                        source,
                    })?;
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            }
            Backend::Remote { store, prefix } => store
                .list_with_delimiter(Some(prefix))
                .await
                .map_err(|source| WarehouseError::Store {
                    location: self.location(),
                    source,
                })?
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect(),
        };
        let mut names = Vec::new();
        for name in candidates {
            if valid_table_name(&name) && self.exists(&name).await? {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Latest committed version of a table, or None if it does not exist yet.
    pub async fn version(&self, table: &str) -> Result<Option<Version>> {
        let url = self.table_url(table)?;
        if !self.exists(table).await? {
            return Ok(None);
        }
        let t = self
            .builder(url)
            .map_err(Self::delta_error(table))?
            .load()
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

    /// The table to write to: its latest version, or a new table (built
    /// without loading: there is no log to read yet).
    async fn table_for_write(&self, table: &str) -> Result<DeltaTable> {
        let url = self.table_url(table)?;
        if let Backend::Local(root) = &self.backend {
            let dir = root.join(table);
            std::fs::create_dir_all(&dir)
                .map_err(|source| WarehouseError::CreateFolder { path: dir, source })?;
        }
        let builder = self.builder(url).map_err(Self::delta_error(table))?;
        if self.exists(table).await? {
            builder.load().await
        } else {
            builder.build()
        }
        .map_err(Self::delta_error(table))
    }

    /// Replaces the whole content of `table` with the batches of `stream`, in
    /// one commit once the stream ends; Parquet files are written as batches
    /// arrive, so a source of any size passes through bounded memory. An
    /// error from the stream fails the write and nothing is committed.
    pub async fn overwrite_stream(
        &self,
        table: &str,
        schema: SchemaRef,
        stream: std::pin::Pin<
            Box<dyn futures::Stream<Item = datafusion::error::Result<RecordBatch>> + Send>,
        >,
        metadata: HashMap<String, serde_json::Value>,
    ) -> Result<Commit> {
        let delta = self.table_for_write(table).await?;
        let rows = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = {
            let rows = rows.clone();
            futures::StreamExt::inspect(stream, move |b| {
                if let Ok(b) = b {
                    rows.fetch_add(b.num_rows(), std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        let source = Arc::new(OneStream {
            schema: schema.clone(),
            stream: std::sync::Mutex::new(Some(Box::pin(RecordBatchStreamAdapter::new(
                schema.clone(),
                counted,
            )))),
        });
        let provider = StreamingTable::try_new(schema, vec![source])?;
        let plan =
            LogicalPlanBuilder::scan("extract", provider_as_source(Arc::new(provider)), None)?
                .build()?;
        let written = delta
            .write(Vec::new())
            .with_input_plan(plan)
            .with_save_mode(SaveMode::Overwrite)
            .with_writer_properties(writer_properties())
            .with_table_name(table)
            .with_commit_properties(Self::commit_properties(SaveMode::Overwrite, metadata))
            .await
            .map_err(Self::write_error(table))?;
        Ok(Commit {
            table: table.to_string(),
            version: written.version().unwrap_or_default(),
            rows: rows.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Adds `batches` to `table` in one commit. The batches may carry columns
    /// the table lacks (a newer release's ledger): they are added, and the
    /// earlier rows read them as null.
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
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        if batches.is_empty() {
            // An empty load still commits, so the table exists with its schema.
            batches.push(RecordBatch::new_empty(schema));
        }
        let delta = self.table_for_write(table).await?;
        let mut write = delta.write(batches).with_save_mode(mode);
        if mode == SaveMode::Append {
            write = write.with_schema_mode(SchemaMode::Merge);
        }
        let written = write
            .with_writer_properties(writer_properties())
            .with_table_name(table)
            .with_commit_properties(Self::commit_properties(mode, metadata))
            .await
            .map_err(Self::write_error(table))?;
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
        let delta = self.snapshot(table, version).await?;
        delta
            .update_datafusion_session(&ctx.state())
            .map_err(Self::delta_error(table))?;
        let provider = delta.table_provider().await?;
        ctx.register_table(table, provider)?;
        Ok(delta.version().unwrap_or_default())
    }

    /// Registers `table` (at `version`, or the latest) in a session as the
    /// Parquet files of that snapshot, read by DataFusion's own Parquet
    /// reader with the schema the Delta provider gives it: what a query
    /// engine that knows nothing of Delta (a Ballista cluster's executors)
    /// needs to read exactly that version. The files' URLs are absolute
    /// (`s3://…` or `file:///…`), so whoever reads them needs the store's
    /// settings (for S3, the `AWS_*` environment variables). A table whose
    /// snapshot needs more than its files' rows (partition values kept in
    /// the log, column mapping, deletion vectors) is refused rather than
    /// read wrongly; the warehouse's own writes never use those.
    pub async fn register_files(
        &self,
        ctx: &SessionContext,
        table: &str,
        version: Option<Version>,
    ) -> Result<Version> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{
            ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
        };
        let delta = self.snapshot(table, version).await?;
        let snapshot = delta.snapshot().map_err(Self::delta_error(table))?;
        let unsupported = |what: &str| WarehouseError::NotPlainFiles {
            table: table.to_string(),
            what: what.to_string(),
        };
        if !snapshot.metadata().partition_columns().is_empty() {
            return Err(unsupported("partition columns"));
        }
        let configuration = snapshot.metadata().configuration();
        if configuration
            .get("delta.columnMapping.mode")
            .is_some_and(|m| m != "none")
        {
            return Err(unsupported("column mapping"));
        }
        if snapshot.protocol().reader_features().is_some_and(|f| {
            f.iter()
                .any(|f| format!("{f:?}").contains("DeletionVector"))
        }) {
            return Err(unsupported("deletion vectors"));
        }
        let root = self.table_url(table)?;
        let mut files = Vec::new();
        for add in snapshot.log_data() {
            let path = add.object_store_path();
            let url = root
                .join(path.as_ref())
                .map_err(|e| WarehouseError::BadLocation {
                    location: root.to_string(),
                    reason: e.to_string(),
                })?;
            files.push(ListingTableUrl::parse(url.as_str())?);
        }
        // The schema queries see locally (the Delta provider's), so types
        // and column order are the same whichever engine runs the SQL; a
        // file written before a column was added reads it as null.
        let schema = delta.table_provider().await?.schema();
        if files.is_empty() {
            // A table with no rows (an empty load commits a schema only).
            let empty = datafusion::datasource::empty::EmptyTable::new(schema);
            ctx.register_table(table, Arc::new(empty))?;
            return Ok(delta.version().unwrap_or_default());
        }
        let format =
            ParquetFormat::default().with_options(ctx.state().table_options().parquet.clone());
        let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(files)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table(table, Arc::new(ListingTable::try_new(config)?))?;
        Ok(delta.version().unwrap_or_default())
    }

    /// `table` at `version` (or its latest), checked whole when pinned.
    async fn snapshot(&self, table: &str, version: Option<Version>) -> Result<DeltaTable> {
        let url = self.table_url(table)?;
        if !self.exists(table).await? {
            return Err(WarehouseError::NoSuchTable {
                table: table.to_string(),
                location: self.location(),
                available: self.tables().await?.join(", "),
            });
        }
        let builder = self.builder(url).map_err(Self::delta_error(table))?;
        let delta = match version {
            // A pinned version must still be whole: its log may outlive the
            // data files a vacuum removed, and a query would then fail half
            // way (or, worse, read a later file of the same name).
            Some(v) => {
                let gone = |reason: String| WarehouseError::VersionGone {
                    table: table.to_string(),
                    version: v,
                    reason,
                };
                let delta = builder
                    .with_version(v)
                    .load()
                    .await
                    .map_err(|e| gone(e.to_string()))?;
                match objects::first_missing_file(&delta).await {
                    Ok(None) => delta,
                    Ok(Some(file)) => return Err(gone(format!("its data file {file} is missing"))),
                    Err(e) => return Err(gone(e.to_string())),
                }
            }
            None => builder.load().await.map_err(Self::delta_error(table))?,
        };
        Ok(delta)
    }

    /// A session with every table of the warehouse registered at its latest
    /// version; returns the versions read, for the run's provenance.
    pub async fn session(&self) -> Result<(SessionContext, Vec<(String, Version)>)> {
        let ctx = SessionContext::new();
        let mut versions = Vec::new();
        for table in self.tables().await? {
            let v = self.register(&ctx, &table, None).await?;
            versions.push((table, v));
        }
        Ok((ctx, versions))
    }
}

/// The S3-compatible bucket an `s3://bucket/…` URL names, with "/" at the
/// bucket's root. Credentials, region and endpoint come from the environment
/// as the AWS tools read them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`).
pub fn s3_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let bad = |reason: String| WarehouseError::BadLocation {
        location: url.to_string(),
        reason,
    };
    if !matches!(url.scheme(), "s3" | "s3a") {
        return Err(bad(format!(
            "the {:?} scheme is not supported; use a local folder or s3://bucket/prefix",
            url.scheme()
        )));
    }
    let bucket = url
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("the URL names no bucket (expected s3://bucket/prefix)".into()))?;
    // Delta commits are "create this log file unless it exists": S3 and
    // compatible servers do that with a conditional put (If-None-Match), so
    // no external lock table is needed.
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok(Arc::new(store))
}

/// A stream of batches as a DataFusion partition that can be read once: the
/// rows of a load, handed to the Delta writer as they are parsed.
struct OneStream {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneStream")
    }
}

impl PartitionStream for OneStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().expect("not poisoned").take() {
            Some(s) => s,
            // Read twice: an empty stream that says why, not silent loss.
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(datafusion::error::DataFusionError::Internal(
                        "a load's rows can be read once".into(),
                    ))
                }),
            )),
        }
    }
}

/// The column in which a loaded row keeps its line in the extract it came
/// from, counting up through each file.
pub const SOURCE_LINE: &str = "source_line";

/// How the warehouse's Parquet files are written: as deltalake writes them
/// by default (Snappy, its name as the writer), except that the lines rows
/// came from are delta-encoded. Nearly every line number differs, so the
/// dictionary encoding tried first gives up and writes them plain: 40% of a
/// national prescribing file's bytes, where their differences (mostly 1)
/// take a few bits a row.
fn writer_properties() -> WriterProperties {
    let line = ColumnPath::from(SOURCE_LINE);
    WriterProperties::builder()
        .set_created_by(format!("delta-rs version {}", deltalake::crate_version()))
        .set_compression(Compression::SNAPPY)
        .set_column_dictionary_enabled(line.clone(), false)
        .set_column_encoding(line, Encoding::DELTA_BINARY_PACKED)
        .build()
}

/// Delta's default log store, for s3:// tables. deltalake's own S3 support
/// (the `s3` feature) brings the whole AWS SDK for a DynamoDB lock that
/// conditional puts have made unnecessary; the object store is built here
/// and handed to each table, so only the scheme needs a log store.
struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn register_s3_log_store() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let scheme = Url::parse(scheme).expect("a scheme is a URL");
            logstore_factories().insert(scheme, Arc::new(ConditionalPutLogStore));
        }
    });
}

/// Whether a location names an object store (`scheme://…`) rather than a
/// local folder. A Windows drive letter (`C:\\…`) is a folder.
pub fn is_url(location: &str) -> bool {
    location.split_once("://").is_some_and(|(scheme, _)| {
        scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric())
    })
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

    /// Two replacements of one table, both reading it before either
    /// commits (the stream holds each write open until both have started).
    async fn overwrite_together(w: &Warehouse) -> Vec<Result<Commit>> {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let write = |rows: i64| {
            let (w, barrier) = (w.clone(), barrier.clone());
            async move {
                let (schema, b) = batch(&["A81001"], &[rows]);
                let stream = futures::stream::once(async move {
                    barrier.wait().await;
                    Ok(b)
                });
                w.overwrite_stream("patients", schema, Box::pin(stream), HashMap::new())
                    .await
            }
        };
        let (a, b) = tokio::join!(write(1), write(2));
        vec![a, b]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replacements_at_once_never_stack() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        // On a fresh warehouse (both create the table), then on a table
        // that exists: each time one write lands and the other is refused,
        // so the table holds one load's rows, never both.
        for round in 0..2 {
            let results = overwrite_together(&w).await;
            let landed: Vec<&Commit> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(landed.len(), 1, "round {round}: {results:?}");
            let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
            assert!(
                matches!(refused, WarehouseError::ConcurrentWrite { .. }),
                "{refused}"
            );
            let rows = count(&w, None).await;
            assert!(
                rows == 1 || rows == 2,
                "round {round}: sum {rows} is both loads"
            );
        }
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
        assert_eq!(w.tables().await.unwrap(), vec!["patients".to_string()]);
    }

    /// A query over a table registered by Delta's provider and over the
    /// same snapshot registered as its Parquet files, as text.
    async fn both_ways(w: &Warehouse, version: Option<Version>, sql: &str) -> (String, String) {
        let mut out = Vec::new();
        for files in [false, true] {
            let ctx = SessionContext::new();
            if files {
                w.register_files(&ctx, "patients", version).await.unwrap();
            } else {
                w.register(&ctx, "patients", version).await.unwrap();
            }
            let batches = collect(&ctx, sql).await.unwrap();
            out.push(
                arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string(),
            );
        }
        (out.remove(0), out.remove(0))
    }

    #[tokio::test]
    async fn a_snapshot_as_its_parquet_files_reads_as_the_delta_table_does() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        // Version 0: empty (a schema only); 1: two rows; 2: replaced by one
        // row (the old file stays on disk, no longer in the snapshot); 3:
        // an append with a column the table lacked.
        let (schema, _) = batch(&[], &[]);
        w.overwrite("patients", schema.clone(), vec![], HashMap::new())
            .await
            .unwrap();
        let (_, b) = batch(&["A81001", "A81002"], &[100, 200]);
        w.overwrite("patients", schema.clone(), vec![b], HashMap::new())
            .await
            .unwrap();
        let (_, b) = batch(&["A81003"], &[7]);
        w.overwrite("patients", schema, vec![b], HashMap::new())
            .await
            .unwrap();
        let wider = Arc::new(Schema::new(vec![
            Field::new("practice_code", DataType::Utf8, false),
            Field::new("patients", DataType::Int64, true),
            Field::new("pcn", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            wider.clone(),
            vec![
                Arc::new(StringArray::from(vec!["A81004"])),
                Arc::new(Int64Array::from(vec![9])),
                Arc::new(StringArray::from(vec!["U12345"])),
            ],
        )
        .unwrap();
        w.append("patients", wider, vec![b], HashMap::new())
            .await
            .unwrap();
        let sql = "SELECT * FROM patients ORDER BY practice_code";
        for version in [Some(0), Some(1), Some(2), Some(3), None] {
            let (delta, files) = both_ways(&w, version, sql).await;
            assert_eq!(files, delta, "version {version:?}");
        }
        let (_, latest) = both_ways(&w, None, sql).await;
        assert!(
            latest.contains("A81003") && latest.contains("U12345") && !latest.contains("A81001"),
            "{latest}"
        );
        // The files registered are absolute URLs, for readers elsewhere.
        let ctx = SessionContext::new();
        w.register_files(&ctx, "patients", None).await.unwrap();
        let plan = collect(&ctx, "EXPLAIN SELECT * FROM patients")
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan)
            .unwrap()
            .to_string();
        assert_eq!(text.matches(".parquet").count(), 2, "{text}");
    }

    #[test]
    fn locations_are_folders_unless_they_name_a_scheme() {
        assert!(is_url("s3://bucket/prefix"));
        assert!(!is_url("out/warehouse"));
        assert!(!is_url("C:\\data\\warehouse"));
        assert!(!is_url("://nothing-before-the-colon"));
        let err = |loc: &str| Warehouse::open(loc).unwrap_err().to_string();
        assert!(err("gs://b/p").contains("\"gs\" scheme is not supported"));
        assert!(
            err("s3:///p").contains("names no bucket"),
            "{}",
            err("s3:///p")
        );
        let w = Warehouse::open("s3://bucket/a/b/").unwrap();
        assert_eq!(w.location(), "s3://bucket/a/b/");
        assert_eq!(w.table_url("t").unwrap().as_str(), "s3://bucket/a/b/t/");
        let w = Warehouse::open("s3://bucket").unwrap();
        assert_eq!(w.table_url("t").unwrap().as_str(), "s3://bucket/t/");
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

    /// The lines rows came from are delta-encoded, every other column as
    /// deltalake writes it (dictionary first), in both kinds of write.
    #[tokio::test]
    async fn source_lines_are_delta_encoded() {
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("practice_code", DataType::Utf8, false),
            Field::new(SOURCE_LINE, DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["A81001"; 1000])),
                Arc::new(Int64Array::from_iter_values(2..1002)),
            ],
        )
        .unwrap();
        w.append("lines", schema.clone(), vec![b.clone()], HashMap::new())
            .await
            .unwrap();
        let stream = futures::stream::once(async move { Ok(b) });
        w.overwrite_stream("replaced", schema, Box::pin(stream), HashMap::new())
            .await
            .unwrap();
        for table in ["lines", "replaced"] {
            let file = std::fs::read_dir(dir.path().join(table))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "parquet"))
                .unwrap();
            let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
            let group = reader.metadata().row_group(0);
            let encodings = |i: usize| group.column(i).encodings().collect::<Vec<_>>();
            assert!(
                encodings(0).contains(&Encoding::RLE_DICTIONARY),
                "{table}: {:?}",
                encodings(0)
            );
            assert!(
                encodings(1).contains(&Encoding::DELTA_BINARY_PACKED),
                "{table}: {:?}",
                encodings(1)
            );
            assert!(
                !encodings(1).contains(&Encoding::RLE_DICTIONARY),
                "{table}: {:?}",
                encodings(1)
            );
        }
    }
}
