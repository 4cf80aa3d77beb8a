//! Landing folders: where extracts arrive. Every file in them must be read
//! by some source, so a file nobody declared is reported, not ignored.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::extraction::{expand, leads_outside};
use crate::{Check, QuarantinedRow, Source};

/// Folders where extracts arrive: every file in them (and below) must be
/// read by some source, so a file for a source nobody declared (a new
/// publication, a misnamed extract) is reported rather than silently ignored.
#[derive(Debug, Clone, Default)]
pub struct Landing {
    pub folders: Vec<PathBuf>,
    /// File-name patterns that are not extracts (README files and hidden
    /// files are always skipped).
    pub ignore: Vec<String>,
}

/// The files under the landing folders that no source's pattern matches.
/// Files in the landing folders that no source reads, and (with their
/// landing folder) links leading out of them that no source matched.
pub(crate) fn unclaimed_files(
    landing: &Landing,
    sources: &[Source],
    base_dir: &Path,
) -> Vec<(PathBuf, Option<PathBuf>)> {
    let claimed: HashSet<PathBuf> = sources
        .iter()
        .filter_map(|s| expand(s, base_dir).ok())
        .flatten()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let ignore: Vec<glob::Pattern> = landing
        .ignore
        .iter()
        .filter_map(|p| glob::Pattern::new(p).ok())
        .collect();
    let skipped = |name: &str| {
        name.starts_with('.')
            || name.to_ascii_lowercase().starts_with("readme")
            || ignore.iter().any(|p| p.matches(name))
    };
    let mut out = Vec::new();
    // (folder to list, the landing folder it lies in)
    let mut folders: Vec<(PathBuf, PathBuf)> = landing
        .folders
        .iter()
        .map(|f| (f.clone(), f.clone()))
        .collect();
    while let Some((folder, root)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if skipped(&name) {
                continue;
            }
            let path = entry.path();
            let claimed = path
                .canonicalize()
                .map(|c| claimed.contains(&c))
                .unwrap_or(false);
            let link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if link && leads_outside(&path, &root) {
                // Never followed: a link out of the drop box is reported,
                // by the source that matched it or here.
                if !claimed {
                    out.push((path, Some(root.clone())));
                }
            } else if path.is_dir() {
                folders.push((path, root.clone()));
            } else if !claimed && path.exists() {
                out.push((path, None));
            }
        }
    }
    out.sort();
    out
}

/// The quarantine entry for a file in a landing folder that no source
/// reads, naming what each source does read.
pub(crate) fn unclaimed_entry(file: &str, sources: &[Source]) -> QuarantinedRow {
    QuarantinedRow::new(
        "",
        file,
        0,
        Check::UnclaimedFile,
        format!(
            "{file}: no source in the pipeline reads this file (sources read: {}); declare a source whose `files` pattern matches it, or move it out of the landing folder",
            sources
                .iter()
                .map(|s| format!("{} ← {}", s.table, s.files))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "",
    )
}
