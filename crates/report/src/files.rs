//! The files of a publication as it is built, each listed with its SHA-256
//! in `data/SHA256SUMS` (the format `sha256sum -c` checks, so a copy of the
//! publication can be checked against it), and each linked rather than
//! written again when the live publication already has it.
//!
//! A night's run replaces the whole publication, atomically (see
//! `publication`), but most of its files are usually the same bytes as the
//! night before: after one practice resubmits, only the pages of the
//! practices that share a peer group with it change, with the board's.
//! Writing the other 40,000-odd national files again was about a fifth of
//! publishing's CPU (the kernel copying 3.7 GB into the page cache and
//! finding inodes for them). A file whose new bytes hash to what the live
//! publication's list says its file of that name holds is hard-linked from
//! there instead: the same bytes, no copy, and the earlier publication kept
//! beside it (`keep`) shares them rather than doubling the disk.
//!
//! The list is trusted only for files untouched since it was written: the
//! live file must be a plain file of the new bytes' length, modified no
//! later than the list. A page edited by hand after publishing is written
//! afresh, not carried forward. Where a link cannot be made (another file
//! system, one without hard links), the file is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::{ReportError, Result};

/// Where the list of a publication's files and their SHA-256 is published.
pub const SUMS: &str = "data/SHA256SUMS";

/// Where the SHA-256 of what each page was made from is kept (see
/// `inputs`), in the same form, for the next run.
pub const INPUTS: &str = "data/page-inputs.sha256";

use crate::inputs::Sha;

/// The live publication's lists, as the next one reuses them.
struct Live {
    folder: PathBuf,
    sums: HashMap<String, Sha>,
    /// What each page was made from.
    inputs: HashMap<String, Sha>,
    listed_at: SystemTime,
}

impl Live {
    /// The lists of the publication in `folder`, if it has them.
    fn read(folder: &Path) -> Option<Live> {
        let path = folder.join(SUMS);
        let listed_at = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        Some(Live {
            folder: folder.to_path_buf(),
            sums: read_list(&path)?,
            inputs: read_list(&folder.join(INPUTS)).unwrap_or_default(),
            listed_at,
        })
    }

    /// The live file named `name`, when it holds exactly the bytes hashed
    /// `sha` of length `len`, untouched since it was listed.
    fn same(&self, name: &str, sha: &Sha, len: usize) -> Option<PathBuf> {
        if self.sums.get(name) != Some(sha) {
            return None;
        }
        self.untouched(name, Some(len))
    }

    /// The live page `name` and its hash, when it was made from `inputs`.
    fn made_from(&self, name: &str, inputs: &Sha) -> Option<(PathBuf, Sha)> {
        if self.inputs.get(name) != Some(inputs) {
            return None;
        }
        let sha = *self.sums.get(name)?;
        Some((self.untouched(name, None)?, sha))
    }

    /// The live file `name`, if it is a plain file (of length `len`, when
    /// given) modified no later than the list.
    fn untouched(&self, name: &str, len: Option<usize>) -> Option<PathBuf> {
        let path = self.folder.join(name);
        // symlink_metadata: a link put in the publication's place is not followed.
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let untouched = meta.modified().is_ok_and(|m| m <= self.listed_at);
        let length = len.is_none_or(|len| meta.len() == len as u64);
        (meta.is_file() && length && untouched).then_some(path)
    }
}

/// A list in `sha256sum`'s form, as a map from name to hash.
fn read_list(path: &Path) -> Option<HashMap<String, Sha>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            // An escaped name (a backslash or newline in it) is not reused.
            .filter(|line| !line.starts_with('\\'))
            .filter_map(|line| {
                let (hex, name) = line.split_once("  ")?;
                Some((name.to_string(), from_hex(hex)?))
            })
            .collect(),
    )
}

/// Writes `list` in `sha256sum`'s form, sorted by name.
fn write_list(path: &Path, list: Vec<(String, Sha)>) -> Result<()> {
    // A name listed twice (published twice) keeps its last hash.
    let list: std::collections::BTreeMap<String, Sha> = list.into_iter().collect();
    let mut text = String::with_capacity(list.len() * 100);
    for (name, sha) in &list {
        // GNU coreutils' escaping: a name with a backslash, a newline or a
        // carriage return is written with them escaped and the line marked
        // with a backslash.
        if name.contains(['\\', '\n', '\r']) {
            text.push('\\');
            text.push_str(&hex(sha));
            text.push_str("  ");
            text.push_str(
                &name
                    .replace('\\', "\\\\")
                    .replace('\n', "\\n")
                    .replace('\r', "\\r"),
            );
        } else {
            text.push_str(&hex(sha));
            text.push_str("  ");
            text.push_str(name);
        }
        text.push('\n');
    }
    make_parent(path)?;
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The files of a publication being built in its staging folder.
pub struct Files {
    staging: PathBuf,
    live: Option<Live>,
    listed: Mutex<Vec<(String, Sha)>>,
    inputs: Mutex<Vec<(String, Sha)>>,
    linked: AtomicUsize,
    linked_bytes: AtomicU64,
    not_made: AtomicUsize,
    written: AtomicUsize,
}

impl Files {
    /// Files built in `staging`, linked from the publication `live` where
    /// they are the same.
    pub fn new(staging: &Path, live: &Path) -> Files {
        Files {
            staging: staging.to_path_buf(),
            live: Live::read(live),
            listed: Mutex::new(Vec::new()),
            inputs: Mutex::new(Vec::new()),
            linked: AtomicUsize::new(0),
            linked_bytes: AtomicU64::new(0),
            not_made: AtomicUsize::new(0),
            written: AtomicUsize::new(0),
        }
    }

    /// The staging folder.
    pub fn root(&self) -> &Path {
        &self.staging
    }

    /// Publishes `contents` as `name` (relative, `/`-separated): linked from
    /// the live publication when it has the same bytes, written otherwise.
    pub fn put(&self, name: &str, contents: &[u8]) -> Result<()> {
        let sha: Sha = Sha256::digest(contents).into();
        let path = self.staging.join(name);
        make_parent(&path)?;
        let from = self
            .live
            .as_ref()
            .and_then(|live| live.same(name, &sha, contents.len()));
        if let Some(from) = from
            && std::fs::hard_link(&from, &path).is_ok()
        {
            self.linked.fetch_add(1, Ordering::Relaxed);
            self.linked_bytes
                .fetch_add(contents.len() as u64, Ordering::Relaxed);
        } else {
            // A name published twice (a further file named as a page) is
            // replaced, never written through: the first may be a link to
            // the live publication's file.
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ReportError::Write { path, source: e });
                }
                _ => {}
            }
            std::fs::write(&path, contents).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        self.list(name, sha);
        Ok(())
    }

    /// Links the live publication's page `name` if it was made from the
    /// same `inputs`, and says whether it did; a page not linked is then
    /// made, and published with [`Files::put_made_from`].
    pub fn reuse(&self, name: &str, inputs: &Sha) -> Result<bool> {
        let Some((from, sha)) = self
            .live
            .as_ref()
            .and_then(|live| live.made_from(name, inputs))
        else {
            return Ok(false);
        };
        let path = self.staging.join(name);
        make_parent(&path)?;
        if std::fs::hard_link(&from, &path).is_err() {
            return Ok(false);
        }
        self.linked.fetch_add(1, Ordering::Relaxed);
        self.not_made.fetch_add(1, Ordering::Relaxed);
        if let Ok(meta) = std::fs::metadata(&path) {
            self.linked_bytes.fetch_add(meta.len(), Ordering::Relaxed);
        }
        self.list(name, sha);
        self.made_from(name, *inputs);
        Ok(true)
    }

    /// [`Files::put`], keeping what the page was made from for the next run.
    pub fn put_made_from(&self, name: &str, contents: &[u8], inputs: &Sha) -> Result<()> {
        self.put(name, contents)?;
        self.made_from(name, *inputs);
        Ok(())
    }

    fn made_from(&self, name: &str, inputs: Sha) {
        push(&self.inputs, name, inputs);
    }

    /// The live publication's file `name`, opened, when it is untouched,
    /// and the parts of it kept in `data/page-inputs.sha256` (entries
    /// `name#<part>`): each part's description and SHA-256.
    fn live_parts(&self, name: &str) -> Option<(std::fs::File, Vec<(&str, Sha)>)> {
        let live = self.live.as_ref()?;
        live.sums.get(name)?;
        let file = std::fs::File::open(live.untouched(name, None)?).ok()?;
        let prefix = format!("{name}#");
        let parts = live
            .inputs
            .iter()
            .filter_map(|(entry, sha)| Some((entry.strip_prefix(&prefix)?, *sha)))
            .collect();
        Some((file, parts))
    }

    /// Keeps the parts of the file `name` (description, SHA-256), for the
    /// next run.
    fn parts_placed<'a>(&self, name: &str, parts: impl IntoIterator<Item = (String, &'a Sha)>) {
        for (part, sha) in parts {
            self.made_from(&format!("{name}#{part}"), *sha);
        }
    }

    /// The blocks of the live publication's gzip file `name` (as
    /// [`Files::blocks_placed`] kept them), when it is untouched.
    pub fn earlier_blocks(&self, name: &str) -> Option<crate::gzip::Earlier> {
        let (file, parts) = self.live_parts(name)?;
        let placed = parts
            .into_iter()
            .filter_map(|(part, sha)| crate::gzip::Placed::parse(sha, part));
        crate::gzip::Earlier::new(file, placed)
    }

    /// Keeps where the gzip file `name`'s blocks are, for the next run.
    pub fn blocks_placed(&self, name: &str, placed: &[crate::gzip::Placed]) {
        self.parts_placed(name, placed.iter().map(|p| (p.describe(), &p.sha)));
    }

    /// The row groups of the live publication's Parquet file `name` (as
    /// [`Files::row_groups_placed`] kept them), when it is untouched.
    pub fn earlier_row_groups(&self, name: &str) -> Option<crate::table::EarlierRowGroups> {
        let (file, parts) = self.live_parts(name)?;
        let keys = parts
            .into_iter()
            .filter_map(|(part, sha)| Some((part.parse::<usize>().ok()?, sha)));
        crate::table::EarlierRowGroups::new(file, keys)
    }

    /// Keeps the key of each row group of the Parquet file `name`, in
    /// order, for the next run.
    pub fn row_groups_placed(&self, name: &str, keys: &[Sha]) {
        self.parts_placed(
            name,
            keys.iter().enumerate().map(|(i, k)| (i.to_string(), k)),
        );
    }

    /// Lists `name`, which something else wrote into the staging folder
    /// (the results table, written as it is made), hashing it from there.
    pub fn written_by_hand(&self, name: &str) -> Result<()> {
        let path = self.staging.join(name);
        let sha = crate::inputs::file_sha(&path).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        self.list(name, sha);
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn list(&self, name: &str, sha: Sha) {
        push(&self.listed, name, sha);
    }

    /// Writes what each page was made from, then the list of every file
    /// (that one included), last; says how many were linked and written.
    pub fn finish(self) -> Result<Reused> {
        let inputs = std::mem::take(&mut *self.inputs.lock().unwrap_or_else(|p| p.into_inner()));
        if !inputs.is_empty() {
            write_list(&self.staging.join(INPUTS), inputs)?;
            self.written_by_hand(INPUTS)?;
        }
        let listed = self.listed.into_inner().unwrap_or_else(|p| p.into_inner());
        write_list(&self.staging.join(SUMS), listed)?;
        Ok(Reused {
            linked: self.linked.into_inner(),
            linked_bytes: self.linked_bytes.into_inner(),
            not_made: self.not_made.into_inner(),
            written: self.written.into_inner(),
        })
    }
}

/// How many files a publication linked from the one before and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reused {
    /// Files linked from the live publication.
    pub linked: usize,
    pub linked_bytes: u64,
    /// Of those, pages linked without being made (their inputs unchanged).
    pub not_made: usize,
    /// Files written.
    pub written: usize,
}

/// Adds `name` and its hash to a list the page-making threads share.
fn push(list: &Mutex<Vec<(String, Sha)>>, name: &str, sha: Sha) {
    list.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((name.to_string(), sha));
}

fn make_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: parent.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

fn hex(sha: &Sha) -> String {
    use std::fmt::Write;
    sha.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn from_hex(text: &str) -> Option<Sha> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut sha = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        sha[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(files: &Files, pages: &[(&str, &str)]) {
        for (name, text) in pages {
            files.put(name, text.as_bytes()).unwrap();
        }
    }

    #[cfg(unix)]
    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().ino()
    }

    #[test]
    #[cfg(unix)]
    fn the_same_bytes_are_linked_and_changed_or_edited_ones_written() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("out");
        let first = Files::new(&live, &dir.path().join("none"));
        publication(
            &first,
            &[
                ("index.html", "board 1"),
                ("practices/A1.html", "a1"),
                ("practices/B2.html", "b2"),
                ("practices/C3.html", "c3"),
            ],
        );
        let done = first.finish().unwrap();
        assert_eq!((done.linked, done.written), (0, 4));
        // GNU sha256sum, an independent implementation, checks the list.
        let check = std::process::Command::new("sha256sum")
            .args(["--check", "--strict", SUMS])
            .current_dir(&live)
            .output()
            .expect("sha256sum (GNU coreutils) runs");
        assert!(check.status.success(), "{check:?}");
        assert_eq!(
            String::from_utf8_lossy(&check.stdout).lines().count(),
            4,
            "{check:?}"
        );

        // Edited by hand after publishing: not carried forward.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(live.join("practices/C3.html"), "c3").unwrap();

        let staging = dir.path().join("staging");
        let second = Files::new(&staging, &live);
        publication(
            &second,
            &[
                ("index.html", "board 2"),
                ("practices/A1.html", "a1"),
                ("practices/B2.html", "b2 changed"),
                ("practices/C3.html", "c3"),
                ("practices/D4.html", "d4"),
            ],
        );
        // A name published twice replaces the first, which was a link to
        // the live file: the live file keeps its bytes.
        second.put("index.html", b"board 2, again").unwrap();
        second.put("practices/D4.html", b"d4").unwrap();
        let done = second.finish().unwrap();
        assert_eq!((done.linked, done.linked_bytes, done.written), (1, 2, 6));
        assert_eq!(
            inode(&staging.join("practices/A1.html")),
            inode(&live.join("practices/A1.html"))
        );
        assert_ne!(
            inode(&staging.join("practices/C3.html")),
            inode(&live.join("practices/C3.html"))
        );
        let relinked = Files::new(&dir.path().join("third"), &live);
        relinked.put("practices/A1.html", b"a1").unwrap();
        relinked.put("practices/A1.html", b"a1, corrected").unwrap();
        relinked.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(live.join("practices/A1.html")).unwrap(),
            "a1",
            "the live publication was written through a link"
        );
        let third = std::fs::read_to_string(dir.path().join("third").join(SUMS)).unwrap();
        assert_eq!(third.lines().count(), 1, "{third}");
        for (name, text) in [
            ("index.html", "board 2, again"),
            ("practices/A1.html", "a1"),
            ("practices/B2.html", "b2 changed"),
            ("practices/C3.html", "c3"),
            ("practices/D4.html", "d4"),
        ] {
            assert_eq!(std::fs::read_to_string(staging.join(name)).unwrap(), text);
        }
    }

    #[test]
    fn a_list_in_sha256sum_form_reads_back() {
        let sha: Sha = Sha256::digest(b"abc").into();
        assert_eq!(
            hex(&sha),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(from_hex(&hex(&sha)), Some(sha));
        assert_eq!(from_hex("xyz"), None);
    }
}
