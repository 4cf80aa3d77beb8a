//! Extraction: the files a source names (a glob on local disk, or objects of
//! an S3-compatible store downloaded to temporary files), how each is named
//! in messages, opened (gzip by its magic bytes) and hashed, and the links
//! that lead out of a landing folder, which are never read.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Check, IngestError, QuarantinedRow, Result, Source};

/// Opens an extract for reading, decompressing it as it streams when it is
/// gzip (recognised by its magic bytes, whatever its name).
pub fn open_extract(path: &Path) -> Result<(Box<dyn std::io::Read + Send>, bool)> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(read_error)?);
    let gzip = std::io::BufRead::fill_buf(&mut file)
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        (Box::new(flate2::bufread::MultiGzDecoder::new(file)), true)
    } else {
        (Box::new(file), false)
    })
}

/// The SHA-256 of a file as it arrived (compressed or not), read in pieces.
/// The hash is of the file's bytes, so a re-compressed but identical extract
/// is still "new".
pub(crate) fn hash_file(path: &Path) -> Result<String> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a digest, as `sha256sum` prints it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One extract to read: a local file, or an object of an S3-compatible
/// store downloaded to a temporary file (so it streams from disk like any
/// other, and memory stays bounded).
pub(crate) struct Extract {
    /// How the file is named in messages, the quarantine and the ledger.
    pub label: String,
    /// Who the file is to the ledger: its real path (the object's URL on a
    /// store), the same whichever folder the run is started from.
    pub key: String,
    pub path: PathBuf,
    /// Removes the download when the load is done.
    _download: Option<tempfile::TempPath>,
}

/// The extracts a source's `files` names: a glob on local disk, or
/// `s3://bucket/prefix/*.csv` on an S3-compatible store.
pub(crate) async fn extracts(source: &Source, base_dir: &Path) -> Result<Vec<Extract>> {
    if peerbench_warehouse::is_url(&source.files) {
        remote_extracts(source).await
    } else {
        local_extracts(source, base_dir)
    }
}

/// The files a local source's glob matches, less links leading out of its folder.
fn local_extracts(source: &Source, base_dir: &Path) -> Result<Vec<Extract>> {
    let outside = outside_links(source, base_dir);
    let files: Vec<Extract> = expand(source, base_dir)?
        .into_iter()
        .filter(|path| !outside.contains(path))
        .map(|path| Extract {
            label: label(&path),
            key: key(&path),
            path,
            _download: None,
        })
        .collect();
    // Only links leading out of the folder: nothing to load, which must
    // not empty the table.
    if files.is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.table.clone(),
            pattern: format!("{} (only links leading outside its folder)", source.files),
        });
    }
    Ok(files)
}

/// The objects of an S3-compatible store that a source's pattern matches,
/// each downloaded to a temporary file.
async fn remote_extracts(source: &Source) -> Result<Vec<Extract>> {
    let remote = |reason: String| IngestError::Remote {
        location: source.files.clone(),
        reason,
    };
    let url = url::Url::parse(&source.files).map_err(|e| remote(e.to_string()))?;
    let store = peerbench_warehouse::s3_store(&url).map_err(|e| remote(e.to_string()))?;
    let pattern_text = url.path().trim_start_matches('/').to_string();
    let pattern = glob::Pattern::new(&pattern_text).map_err(|e| IngestError::BadPattern {
        source_name: source.table.clone(),
        pattern: source.files.clone(),
        reason: e.to_string(),
    })?;
    // List only below the pattern's literal folders.
    let literal: Vec<&str> = pattern_text
        .split('/')
        .take_while(|segment| !segment.contains(['*', '?', '[']))
        .collect();
    let prefix = object_store::path::Path::from(literal.join("/"));
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    let mut keys: Vec<object_store::path::Path> =
        futures::TryStreamExt::try_collect::<Vec<_>>(store.list(Some(&prefix)))
            .await
            .map_err(|e| remote(e.to_string()))?
            .into_iter()
            .map(|meta| meta.location)
            .filter(|key| pattern.matches_with(key.as_ref(), options))
            .collect();
    keys.sort();
    if keys.is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.table.clone(),
            pattern: source.files.clone(),
        });
    }
    let bucket = url.host_str().unwrap_or_default();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let label = format!("s3://{bucket}/{key}");
        let path = download(store.as_ref(), &key, &label)
            .await
            .map_err(remote)?;
        out.push(Extract {
            key: label.clone(),
            label,
            path: path.to_path_buf(),
            _download: Some(path),
        });
    }
    Ok(out)
}

/// Downloads one object to a temporary file (removed when dropped); the
/// error in words, naming the object where the store failed.
async fn download(
    store: &dyn object_store::ObjectStore,
    key: &object_store::path::Path,
    label: &str,
) -> std::result::Result<tempfile::TempPath, String> {
    let download = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let mut file = std::io::BufWriter::new(download.reopen().map_err(|e| e.to_string())?);
    let mut body = object_store::ObjectStoreExt::get(store, key)
        .await
        .map_err(|e| format!("{label}: {e}"))?
        .into_stream();
    while let Some(chunk) = futures::TryStreamExt::try_next(&mut body)
        .await
        .map_err(|e| format!("{label}: {e}"))?
    {
        std::io::Write::write_all(&mut file, &chunk).map_err(|e| e.to_string())?;
    }
    std::io::Write::flush(&mut file).map_err(|e| e.to_string())?;
    Ok(download.into_temp_path())
}

pub(crate) fn expand(source: &Source, base_dir: &Path) -> Result<Vec<PathBuf>> {
    let pattern = if Path::new(&source.files).is_absolute() {
        source.files.clone()
    } else {
        base_dir.join(&source.files).to_string_lossy().into_owned()
    };
    let paths = glob::glob(&pattern).map_err(|e| IngestError::BadPattern {
        source_name: source.table.clone(),
        pattern: pattern.clone(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() && outside_links(source, base_dir).is_empty() {
        return Err(IngestError::NoFiles {
            source_name: source.table.clone(),
            pattern,
        });
    }
    Ok(files)
}

/// The folder a file pattern names before its first wildcard: the files
/// it matches must lie inside it.
pub(crate) fn literal_folder(pattern: &Path) -> PathBuf {
    let wild = |c: &std::path::Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    if !pattern.components().any(|c| wild(&c)) {
        // A single file: its folder.
        return pattern.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    pattern.components().take_while(|c| !wild(c)).collect()
}

/// Whether `path` (found inside `folder`) leads, through a symbolic link,
/// somewhere outside it. Such a file is never opened: a landing folder is
/// a drop box, and a link in it must not make peerbench read (and quote in
/// its quarantine) any file the account running it can see.
pub(crate) fn leads_outside(path: &Path, folder: &Path) -> bool {
    let inside = |folder: &Path| {
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        path.canonicalize()
            .map(|p| p.starts_with(&folder))
            .unwrap_or(true)
    };
    !inside(folder)
}

/// The files a local source's pattern matches that are links leading out
/// of its folder: they are not read, and each is reported.
pub(crate) fn outside_links(source: &Source, base_dir: &Path) -> Vec<PathBuf> {
    if peerbench_warehouse::is_url(&source.files) {
        return Vec::new();
    }
    let pattern = base_dir.join(&source.files);
    let folder = literal_folder(&pattern);
    let Ok(paths) = glob::glob(&pattern.to_string_lossy()) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file() && leads_outside(p, &folder))
        .collect();
    out.sort();
    out
}

/// The quarantine entry for a link leading out of its folder.
pub(crate) fn outside_entry(table: &str, path: &Path, folder: &str) -> QuarantinedRow {
    let file = label_without_following(path);
    QuarantinedRow::new(
        table,
        &file,
        0,
        Check::OutsideFolder,
        format!(
            "{file}: a symbolic link leading outside {folder}; it was not read. Copy the extract into the folder instead of linking to it"
        ),
        "",
    )
}

/// A path's label without resolving links (whose targets are not named).
pub(crate) fn label_without_following(path: &Path) -> String {
    let resolved = path
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .map(|dir| dir.join(path.file_name().unwrap_or_default()));
    shown(path, resolved)
}

/// How a file is named in messages and the quarantine: relative to the
/// working directory when it lies below it, so users can open it directly.
pub(crate) fn label(path: &Path) -> String {
    shown(path, path.canonicalize().ok())
}

/// Who a local file is to the ledger: its real, absolute path (links
/// resolved). Labels follow the working directory, so a run started from
/// another folder would otherwise find every file new and read them all
/// again; a path relative to the pipeline file would make two pipeline
/// files in different folders, loading the same extracts into one
/// warehouse, each reload what the other loaded.
pub(crate) fn key(path: &Path) -> String {
    match path.canonicalize() {
        Ok(real) => real.to_string_lossy().into_owned(),
        Err(_) => label(path),
    }
}

/// `resolved` (an absolute path) relative to the working directory when it
/// lies below it; `path` as given when it could not be resolved.
fn shown(path: &Path, resolved: Option<PathBuf>) -> String {
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize());
    match (resolved, cwd) {
        (Some(abs), Ok(cwd)) => abs.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(abs),
        _ => path.to_path_buf(),
    }
    .to_string_lossy()
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_patterns_folder_is_what_precedes_its_first_wildcard() {
        assert_eq!(
            literal_folder(Path::new("/d/searches/*.csv")),
            Path::new("/d/searches")
        );
        assert_eq!(
            literal_folder(Path::new("/d/in/*/x-*.csv")),
            Path::new("/d/in")
        );
        assert_eq!(
            literal_folder(Path::new("/d/practices.csv")),
            Path::new("/d")
        );
    }

    #[test]
    fn gzip_is_recognised_by_content_not_name() {
        let text = b"PRACTICE_CODE,VALUE\nA81001,5\n".to_vec();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&text).unwrap();
        let gz = enc.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, gzip) in [("x.csv", &gz, true), ("x.csv.gz", &text, false)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (mut input, is_gzip) = open_extract(&path).unwrap();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut input, &mut out).unwrap();
            assert_eq!((out, is_gzip), (text.clone(), gzip), "{name}");
        }
    }
}
