//! Plain objects beside the tables (e.g. the indicator result cache): read,
//! written whole, listed and deleted, on local disk or in the object store.
//!
//! Keys are `/`-separated paths under the warehouse root whose first part
//! starts with `_`, so no key can be mistaken for (or overwrite) a table.
//! A write is all or nothing: locally a temporary file renamed into place,
//! in an object store a single PUT.

use std::path::PathBuf;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{Backend, Result, Warehouse, WarehouseError};

impl Warehouse {
    fn object_path(&self, key: &str) -> Result<Target> {
        let valid = key.starts_with('_')
            && !key
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..");
        if !valid {
            return Err(WarehouseError::BadLocation {
                location: key.to_string(),
                reason: "an object key beside the tables must start with '_' and have no empty, '.' or '..' parts".into(),
            });
        }
        Ok(match &self.backend {
            Backend::Local(root) => Target::Local(root.join(key)),
            Backend::Remote { prefix, .. } => {
                let mut path = prefix.clone();
                for part in key.split('/') {
                    path = path.join(part);
                }
                Target::Remote(path)
            }
        })
    }

    fn object_io<'a>(&'a self, key: &'a str) -> impl FnOnce(std::io::Error) -> WarehouseError + 'a {
        move |source| WarehouseError::Object {
            key: format!("{}{key}", self.root),
            source,
        }
    }

    fn store_error(&self) -> impl FnOnce(object_store::Error) -> WarehouseError + '_ {
        move |source| WarehouseError::Store {
            location: self.location(),
            source,
        }
    }

    /// Writes an object whole (replacing any earlier one).
    pub async fn put_object(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        match (self.object_path(key)?, &self.backend) {
            (Target::Local(path), _) => {
                let folder = path.parent().unwrap_or(&path).to_path_buf();
                std::fs::create_dir_all(&folder).map_err(self.object_io(key))?;
                let mut tmp =
                    tempfile::NamedTempFile::new_in(&folder).map_err(self.object_io(key))?;
                std::io::Write::write_all(&mut tmp, &bytes).map_err(self.object_io(key))?;
                tmp.persist(&path)
                    .map_err(|e| self.object_io(key)(e.error))?;
                Ok(())
            }
            (Target::Remote(path), Backend::Remote { store, .. }) => {
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(self.store_error())?;
                Ok(())
            }
            _ => unreachable!("object paths follow the backend"),
        }
    }

    /// Reads an object, or None if there is none under `key`.
    pub async fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match (self.object_path(key)?, &self.backend) {
            (Target::Local(path), _) => match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.object_io(key)(e)),
            },
            (Target::Remote(path), Backend::Remote { store, .. }) => match store.get(&path).await {
                Ok(got) => Ok(Some(
                    got.bytes().await.map_err(self.store_error())?.to_vec(),
                )),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_error()(e)),
            },
            _ => unreachable!("object paths follow the backend"),
        }
    }

    /// The keys of the objects directly inside the folder `key`, sorted.
    pub async fn list_objects(&self, key: &str) -> Result<Vec<String>> {
        let mut keys = match (self.object_path(key)?, &self.backend) {
            (Target::Local(path), _) => match std::fs::read_dir(&path) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().to_str().map(|n| format!("{key}/{n}")))
                    .filter(|k| !k.rsplit('/').next().unwrap_or_default().starts_with(".tmp"))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(self.object_io(key)(e)),
            },
            (Target::Remote(path), Backend::Remote { store, .. }) => store
                .list_with_delimiter(Some(&path))
                .await
                .map_err(self.store_error())?
                .objects
                .iter()
                .filter_map(|o| o.location.filename().map(|n| format!("{key}/{n}")))
                .collect(),
            _ => unreachable!("object paths follow the backend"),
        };
        keys.sort();
        Ok(keys)
    }

    /// Deletes an object; deleting one that is not there is not an error.
    pub async fn delete_object(&self, key: &str) -> Result<()> {
        match (self.object_path(key)?, &self.backend) {
            (Target::Local(path), _) => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.object_io(key)(e)),
            },
            (Target::Remote(path), Backend::Remote { store, .. }) => {
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(self.store_error()(e)),
                }
            }
            _ => unreachable!("object paths follow the backend"),
        }
    }
}

enum Target {
    Local(PathBuf),
    Remote(StorePath),
}

/// Whether every data file of a loaded table version is still in its store
/// (a version whose files were vacuumed can be loaded from its log but not
/// read). Returns the first missing file.
pub(crate) async fn first_missing_file(
    table: &deltalake::DeltaTable,
) -> Result<Option<String>, deltalake::DeltaTableError> {
    let store = table.object_store();
    let paths: Vec<StorePath> = table
        .snapshot()?
        .log_data()
        .into_iter()
        .map(|add| add.object_store_path())
        .collect();
    for path in paths {
        match store.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(Some(path.to_string())),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use crate::{Warehouse, WarehouseError};

    #[tokio::test]
    async fn objects_beside_the_tables_are_written_whole_listed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::local(dir.path()).unwrap();
        assert_eq!(w.get_object("_cache/a/1.bin").await.unwrap(), None);
        assert_eq!(
            w.list_objects("_cache/a").await.unwrap(),
            Vec::<String>::new()
        );
        w.put_object("_cache/a/1.bin", b"one".to_vec())
            .await
            .unwrap();
        w.put_object("_cache/a/2.bin", b"two".to_vec())
            .await
            .unwrap();
        w.put_object("_cache/a/1.bin", b"uno".to_vec())
            .await
            .unwrap();
        assert_eq!(
            w.get_object("_cache/a/1.bin").await.unwrap(),
            Some(b"uno".to_vec())
        );
        assert_eq!(
            w.list_objects("_cache/a").await.unwrap(),
            ["_cache/a/1.bin", "_cache/a/2.bin"]
        );
        w.delete_object("_cache/a/1.bin").await.unwrap();
        w.delete_object("_cache/a/1.bin").await.unwrap();
        assert_eq!(
            w.list_objects("_cache/a").await.unwrap(),
            ["_cache/a/2.bin"]
        );
        // Objects are never tables, and no key reaches outside the warehouse
        // or into a table.
        assert_eq!(w.tables().await.unwrap(), Vec::<String>::new());
        for bad in ["practices/x", "_cache/../../etc", "_cache//x", ""] {
            assert!(
                matches!(
                    w.put_object(bad, Vec::new()).await,
                    Err(WarehouseError::BadLocation { .. })
                ),
                "{bad}"
            );
        }
    }
}
