//! Publishes a run: the federation board page (`index.html`) with a page per
//! indicator (`board/<id>.html`), one page per practice
//! (`practices/<CODE>.html`), each page's numbers beside it as CSV, and the
//! results table (`data/indicator_results.csv` and `.parquet`).
//!
//! Pages are self-contained HTML (no scripts, fonts or images fetched), carry
//! words as well as colours, and are deterministic: the same input gives the
//! same bytes. Publication is atomic: the pages are built in a staging folder
//! and swapped into place, so readers never see half a report.

mod charts;
mod disclosure;
mod html;
mod table;
mod workbook;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use peerbench_compare::{Change, PeerGroup, PracticeInfo, ResultRow};
use peerbench_indicators::Indicator;

pub use disclosure::{Disclosure, DisclosurePolicy};
pub use html::catalogue_page;
pub use table::{RESULT_COLUMNS, results_batch, write_csv, write_parquet};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("practice code {0:?} cannot be used as a file name")]
    UnsafePracticeCode(String),
    #[error("internal error while writing the report: {0}")]
    Internal(String),
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Rows loaded and quarantined for one source, for the data-quality section.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceQuality {
    pub table: String,
    pub files: usize,
    pub rows_loaded: usize,
    pub rows_quarantined: usize,
    pub by_check: Vec<(String, usize)>,
}

/// Everything a report needs to say how its numbers were made.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub run_id: String,
    pub peerbench_version: String,
    pub pipeline_name: String,
    /// Warehouse tables read and their Delta versions.
    pub table_versions: Vec<(String, u64)>,
    pub sources: Vec<SourceQuality>,
    /// Quarantined rows per practice (practice code → count), where the practice is known.
    pub quarantined_by_practice: BTreeMap<String, usize>,
}

pub struct ReportInput<'a> {
    pub title: String,
    pub indicators: &'a [Indicator],
    pub practices: &'a BTreeMap<String, PracticeInfo>,
    pub results: &'a [ResultRow],
    /// The peer group the pages compare against (others are in the table).
    pub primary_peer_group: String,
    pub provenance: Provenance,
    /// Since last period: new and resolved outliers, new special causes.
    pub changes: Vec<Change>,
    /// The peer-group definitions, published so the choice can be challenged.
    pub peer_groups: Vec<PeerGroup>,
    /// What each kind of output may show (methods reference §9).
    pub disclosure: DisclosurePolicy,
    /// Further files to publish with the report (path relative to the output
    /// folder, contents), inside the same atomic swap.
    pub extra_files: Vec<(PathBuf, Vec<u8>)>,
}

/// What was published.
#[derive(Debug, Clone)]
pub struct Published {
    pub index: PathBuf,
    pub practice_pages: usize,
    pub result_rows: usize,
}

fn safe_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 16
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, contents).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Builds every output in a staging folder beside `out`, then swaps it in.
pub fn publish(input: &ReportInput, out: &Path) -> Result<Published> {
    for code in input.practices.keys() {
        if !safe_code(code) {
            return Err(ReportError::UnsafePracticeCode(code.clone()));
        }
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    if staging.exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }

    let site = html::Site::new(input);
    write(
        &staging.join("indicators.html"),
        catalogue_page(&input.title, input.indicators).as_bytes(),
    )?;
    write(&staging.join("index.html"), site.board_page().as_bytes())?;
    // Each page's numbers beside it as CSV, under that page's policy.
    let policy = input.disclosure;
    let mut practice_rows: BTreeMap<&str, Vec<ResultRow>> = BTreeMap::new();
    for r in input.results {
        practice_rows
            .entry(r.practice_code.as_str())
            .or_default()
            .push(policy.practice_pages.apply(r));
    }
    for code in input.practices.keys() {
        let dir = staging.join("practices");
        write(
            &dir.join(format!("{code}.html")),
            site.practice_page(code).as_bytes(),
        )?;
        let rows = practice_rows.remove(code.as_str()).unwrap_or_default();
        write_csv(&dir.join(format!("{code}.csv")), &rows)?;
    }
    for ind in site.published_indicators() {
        let dir = staging.join("board");
        write(
            &dir.join(format!("{}.html", ind.id)),
            site.indicator_page(ind).as_bytes(),
        )?;
        let rows: Vec<ResultRow> = site
            .indicator_rows(&ind.id)
            .iter()
            .map(|r| policy.board.apply(r))
            .collect();
        write_csv(&dir.join(format!("{}.csv", ind.id)), &rows)?;
    }
    let data = staging.join("data");
    std::fs::create_dir_all(&data).map_err(|source| ReportError::Write {
        path: data.clone(),
        source,
    })?;
    // Downloads carry the downloads policy; the pages apply their own.
    let published: Vec<ResultRow> = input
        .results
        .iter()
        .map(|r| input.disclosure.downloads.apply(r))
        .collect();
    write_csv(&data.join("indicator_results.csv"), &published)?;
    write_parquet(
        &data.join("indicator_results.parquet"),
        &results_batch(&published)?,
    )?;
    write(
        &data.join("board-pack.xlsx"),
        &workbook::board_workbook(&site)?,
    )?;
    write(
        &data.join("changes.csv"),
        table::changes_csv(&input.changes).as_bytes(),
    )?;

    // Swap: the old report stays whole until the new one is complete.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &old).map_err(|source| ReportError::Write {
            path: out.to_path_buf(),
            source,
        })?;
    }
    std::fs::rename(&staging, out).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    if old.exists() {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(Published {
        index: out.join("index.html"),
        practice_pages: input.practices.len(),
        result_rows: input.results.len(),
    })
}
