//! Putting a finished publication in place, so that a reader of the output
//! folder, or a run killed at any moment, never meets half of one.
//!
//! A publication is built whole in a staging folder beside the output
//! folder (`.NAME.staging-PID`). It then takes the output folder's place in
//! one atomic step: on Linux the two folders are exchanged by
//! `renameat2(RENAME_EXCHANGE)`, so the output path always names a complete
//! publication, the old one until the instant the new one is there. Where
//! the kernel or file system cannot exchange, the old folder is renamed
//! aside (`.NAME.old-PID`) and the new one renamed in; a run killed between
//! those two renames leaves the old publication at `.NAME.old-PID`, and the
//! next run puts it back before anything else.
//!
//! The previous publication is then kept in `NAME.earlier/<when it was
//! published>` (the newest `keep` of them), or removed. Staging and
//! set-aside folders left by runs that have ended (killed, or stopped by a
//! full disk) are removed by the next run.

use std::path::{Path, PathBuf};

use crate::{ReportError, Result};

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a process with this pid is running (on Linux, where /proc says;
/// elsewhere every pid is assumed alive, so nothing is removed wrongly).
fn alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The folders beside `out` that runs use on their way (staging, set aside,
/// being removed): `(path, pid, is_old)`.
fn leftovers(parent: &Path, name: &str) -> Vec<(PathBuf, u32, bool)> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let (staging, old) = (format!(".{name}.staging-"), format!(".{name}.old-"));
    let removing = format!(".{name}.removing-");
    let mut found: Vec<(PathBuf, u32, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let (pid, is_old) = if let Some(pid) = file
                .strip_prefix(&staging)
                .or_else(|| file.strip_prefix(&removing))
            {
                (pid.parse().ok()?, false)
            } else {
                (file.strip_prefix(&old)?.parse().ok()?, true)
            };
            Some((e.path(), pid, is_old))
        })
        .collect();
    found.sort();
    found
}

/// Before a run publishes: puts back a publication that a killed run had
/// set aside (when the output folder is missing), and removes the staging
/// and set-aside folders of runs that have ended.
pub fn recover(out: &Path, parent: &Path, name: &str) -> Result<()> {
    for (path, pid, is_old) in leftovers(parent, name) {
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        if is_old && !out.exists() {
            tracing::warn!(
                "putting back the publication that run {pid} had set aside when it stopped: {}",
                path.display()
            );
            std::fs::rename(&path, out).map_err(write_error(out))?;
            continue;
        }
        tracing::info!(
            "removing {} left by run {pid}, which has ended",
            path.display()
        );
        remove_publication(&path)?;
    }
    Ok(())
}

/// Exchanges two folders atomically. Ok(false) where the kernel or file
/// system cannot (the caller then renames in two steps).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call; renameat2 reads them and touches no other memory of ours.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// When a publication was made: its board page's modification time, as a
/// folder name that sorts in time order.
fn published_at(folder: &Path) -> String {
    let modified = std::fs::metadata(folder.join("index.html"))
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| std::time::SystemTime::now());
    chrono::DateTime::<chrono::Utc>::from(modified)
        .format("%Y-%m-%dT%H%M%SZ")
        .to_string()
}

/// Puts the finished `staging` folder in place of `out` atomically, and
/// keeps the publication it replaces in `NAME.earlier/` (the newest `keep`).
pub fn swap_in(staging: &Path, out: &Path, parent: &Path, name: &str, keep: usize) -> Result<()> {
    let replaced = if out.exists() {
        if exchange(staging, out).map_err(write_error(out))? {
            // The old publication is now where the staging folder was.
            staging.to_path_buf()
        } else {
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(out, &old).map_err(write_error(out))?;
            std::fs::rename(staging, out).map_err(write_error(out))?;
            old
        }
    } else {
        std::fs::rename(staging, out).map_err(write_error(out))?;
        return Ok(());
    };
    if keep == 0 {
        return remove_publication(&replaced);
    }
    let earlier = parent.join(format!("{name}.earlier"));
    std::fs::create_dir_all(&earlier).map_err(write_error(&earlier))?;
    let mut kept = earlier.join(published_at(&replaced));
    if kept.exists() {
        kept = earlier.join(format!(
            "{}-{}",
            published_at(&replaced),
            std::process::id()
        ));
    }
    std::fs::rename(&replaced, &kept).map_err(write_error(&kept))?;
    let mut all: Vec<PathBuf> = std::fs::read_dir(&earlier)
        .map_err(write_error(&earlier))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    for gone in &all[..all.len().saturating_sub(keep)] {
        let t = std::time::Instant::now();
        // Out of `NAME.earlier/` first, in one step: a run killed while
        // removing it leaves a hidden folder the next run removes, never
        // half a publication among the kept ones.
        let removing = parent.join(format!(".{name}.removing-{}", std::process::id()));
        if removing.exists() {
            // Left by an ended run that had this process's id.
            remove_publication(&removing)?;
        }
        std::fs::rename(gone, &removing).map_err(write_error(gone))?;
        remove_publication(&removing)?;
        tracing::debug!(
            "removed the earlier publication {} in {:.2}s",
            gone.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// How many files [`remove_publication`] removes at once: more than the
/// cores, as removing a file is mostly waiting on the file system, not
/// work for the CPU. A national two-year publication (44,000 files, 7.5 GiB)
/// took 5.8 s on one thread with a third of a core busy, 4.3 s on two, 2.9
/// to 3.4 s on eight and 2.8 to 2.9 s on sixteen (2 cores).
const REMOVING_THREADS: usize = 8;

/// Removes a whole publication (or a killed run's staging folder), its
/// files and folders two levels down on several threads. It is the last
/// thing a nightly run does.
fn remove_publication(folder: &Path) -> Result<()> {
    let children = |dir: &Path| -> Vec<(PathBuf, bool)> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut gone = Vec::new();
    for (path, is_dir) in children(folder) {
        if is_dir {
            gone.extend(children(&path));
        } else {
            gone.push((path, false));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<ReportError>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..REMOVING_THREADS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((path, is_dir)) = gone.get(i) else {
                        return;
                    };
                    let removed = if *is_dir {
                        std::fs::remove_dir_all(path)
                    } else {
                        std::fs::remove_file(path)
                    };
                    if let Err(e) = removed {
                        let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                        failed.get_or_insert(write_error(path)(e));
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    // What is left: the emptied folders, and anything a reader added meanwhile.
    std::fs::remove_dir_all(folder).map_err(write_error(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(dir: &Path, text: &str) {
        // Files and folders at each depth a publication has.
        std::fs::create_dir_all(dir.join("practices/A81001")).unwrap();
        std::fs::write(dir.join("index.html"), text).unwrap();
        std::fs::write(dir.join("practices/A81001.html"), text).unwrap();
        std::fs::write(dir.join("practices/A81001/access.html"), text).unwrap();
    }

    #[test]
    fn a_new_publication_replaces_the_old_and_the_old_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("demo");
        for (i, text) in ["first", "second", "third", "fourth"].iter().enumerate() {
            let staging = root.path().join(format!(".demo.staging-{i}"));
            publication(&staging, text);
            swap_in(&staging, &out, root.path(), "demo", 2).unwrap();
            assert_eq!(
                std::fs::read_to_string(out.join("index.html")).unwrap(),
                *text
            );
            assert!(!staging.exists());
            // Distinct publication times for the kept folders' names.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let kept: Vec<String> = std::fs::read_dir(root.path().join("demo.earlier"))
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path().join("index.html")).unwrap())
            .collect();
        let mut kept = kept;
        kept.sort();
        assert_eq!(kept, ["second", "third"]);
        // Nothing left beside them: the removed ones are gone whole.
        let mut beside: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        assert_eq!(beside, ["demo", "demo.earlier"]);
    }

    #[test]
    fn leftovers_of_ended_runs_are_removed_and_a_set_aside_publication_put_back() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("demo");
        let dead = u32::MAX - 1;
        // Killed between its two renames: no output folder, the old one aside.
        publication(&root.path().join(format!(".demo.old-{dead}")), "last good");
        publication(&root.path().join(format!(".demo.staging-{dead}")), "half");
        // A live run's staging folder (this process stands in for it) stays.
        let live = root
            .path()
            .join(format!(".demo.staging-{}", std::process::id()));
        publication(&live, "in progress");
        // Killed while removing the publication before last.
        publication(&root.path().join(format!(".demo.removing-{dead}")), "gone");
        let other_live = root.path().join(".demo.staging-1");
        publication(&other_live, "pid 1 is alive");
        recover(&out, root.path(), "demo").unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("index.html")).unwrap(),
            "last good"
        );
        assert!(!root.path().join(format!(".demo.staging-{dead}")).exists());
        assert!(!root.path().join(format!(".demo.removing-{dead}")).exists());
        assert!(live.exists() && other_live.exists());
    }
}
