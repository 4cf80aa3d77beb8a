//! Publishes a run: the federation board page (`index.html`) with a page per
//! indicator (`board/<id>.html`), one report per practice
//! (`practices/<CODE>.html`, with each domain's indicators in detail in
//! `practices/<CODE>/<domain>.html`), each page's numbers beside it as CSV, and the
//! results table (`data/indicator_results.parquet` and `.csv.gz`).
//!
//! Pages are self-contained HTML (no scripts, fonts or images fetched), carry
//! words as well as colours, and are deterministic: the same input gives the
//! same bytes. Publication is atomic: the pages are built in a staging folder
//! and swapped into place, so readers never see half a report.
//!
//! Pages are written with maud's `html!` macro, which escapes every value it
//! splices in: text from extracts and indicator files cannot become markup,
//! and raw output is a visible `PreEscaped` (only the charts' SVG shapes and
//! the stylesheet). maud rather than askama because the pages are mostly
//! logic around small pieces of markup, which maud keeps in ordinary Rust
//! beside it, with pages, sections, cells and charts all one `Markup` type
//! (see `pages`). The words shown for each statistical category come from
//! one place, `wording`; the results table keeps the categories' tokens.

mod charts;
mod disclosure;
mod files;
mod gzip;
mod inputs;
mod pages;
mod publication;
mod safe_csv;
mod table;
mod verdict;
mod wording;
mod workbook;

use std::collections::BTreeMap;

/// The hash maps of the pages' index and of disclosure control, keyed by
/// indicator ids, practice codes and periods and looked up tens of
/// millions of times nationally: foldhash, seeded per process (so a
/// crafted register cannot make keys collide), where SipHash was about 4%
/// of publishing's CPU.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A set hashed as [`Map`] is.
pub(crate) type Set<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use std::path::{Path, PathBuf};

use peerbench_catalogue::Indicator;
use peerbench_compare::{Change, PeerGroup, PracticeInfo, ResultRow};

pub use disclosure::{
    Disclosure, DisclosurePolicy, Hidden, Suppression, SuppressionSummary, Withheld,
};
pub use files::{Reused, SUMS};
pub use pages::catalogue_page;
pub use safe_csv::{Cell, CsvWriter, csv_bytes, neutralise};
pub use table::{
    EarlierRowGroups, RESULT_COLUMNS, csv_vec, results_batch, write_csv, write_csv_gz,
    write_parquet,
};
pub use verdict::VerdictLead;

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
    #[error("{0}: a file published with the report must be a relative path inside it")]
    UnsafeFilePath(PathBuf),
    #[error("cannot build the results table's rows: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("cannot write {path} as Parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot write {what} as CSV: {source}")]
    Csv {
        what: String,
        #[source]
        source: csv::Error,
    },
    #[error("cannot write the Excel workbook: {0}")]
    Workbook(#[from] rust_xlsxwriter::XlsxError),
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
    /// The source's latest month (YYYY-MM), when it has a date column: the
    /// newest at least half of its practices have sent.
    pub latest_month: Option<String>,
    /// Register practices open that month with no rows in it.
    pub missing_latest: Vec<String>,
    /// Months after the latest that fewer than half of the source's
    /// practices have sent so far, each with how many have.
    pub later_months: Vec<(String, usize)>,
    /// Rows not loaded because a later file resubmitted their practice's period.
    pub rows_replaced: usize,
    /// More rows set aside than the source's warning level, in words.
    pub warning: Option<String>,
    /// Practices whose latest period differs sharply from their previous one.
    pub jumps: Vec<Jump>,
}

/// A practice whose latest period in a source differs sharply from its
/// previous one. It is more often an extract problem (a partial file, a list
/// cleaned or merged) than a real change, so readers are told before they
/// compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub practice_code: String,
    /// What was counted: "rows" or "registered patients".
    pub measure: String,
    pub previous_period: String,
    pub latest_period: String,
    pub previous: i64,
    pub latest: i64,
}

impl Jump {
    /// e.g. "registered patients 10,212 → 8,901 (−12.8%), 2026-08 to 2026-09".
    pub fn describe(&self) -> String {
        let change = (self.latest - self.previous) as f64 / self.previous.max(1) as f64 * 100.0;
        format!(
            "{} {} → {} ({}{:.1}%), {} to {}",
            self.measure,
            thousands(self.previous),
            thousands(self.latest),
            if change < 0.0 { "−" } else { "+" },
            change.abs(),
            self.previous_period,
            self.latest_period
        )
    }
}

/// 10212 → "10,212".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
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
    /// Files in the landing folders that no source reads.
    pub unclaimed_files: Vec<String>,
}

/// Makes the run record's bytes given the number of pages published and
/// what was linked from the publication before.
pub type RunRecord<'a> = &'a (dyn Fn(usize, Reused) -> Vec<u8> + Sync);

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
    /// Which comparison leads each indicator's verdict (`[reports] verdict`).
    pub verdict: VerdictLead,
    /// How the funnels estimated φ, for "How this was made".
    pub phi: peerbench_stats::PhiEstimator,
    /// Further files to publish with the report (path relative to the output
    /// folder, contents), inside the same atomic swap.
    pub extra_files: Vec<(PathBuf, Vec<u8>)>,
    /// The run record (`run.json`), made once every page is written, from
    /// the number of pages, and published in the same swap: a record made
    /// before would say it published none.
    pub run_record: Option<RunRecord<'a>>,
    /// How many earlier publications to keep in `<output>.earlier/`.
    pub keep_earlier: usize,
    /// Indicators that failed tonight and were left out, with the reason:
    /// the board says so rather than show their earlier results as tonight's.
    pub not_computed: Vec<NotComputed>,
}

/// An indicator left out of a publication because it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotComputed {
    pub id: String,
    pub title: String,
    pub reason: String,
}

/// What was published.
#[derive(Debug, Clone)]
pub struct Published {
    pub index: PathBuf,
    pub practice_pages: usize,
    /// Every HTML page: board, catalogue, how it was made, indicator pages, practice reports
    /// and their detail pages.
    pub pages: usize,
    pub result_rows: usize,
    /// Files the same as the live publication's, linked rather than written.
    pub reused: Reused,
    /// Wall time to render and write everything, swap included.
    pub seconds: f64,
}

fn safe_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 16
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A path that stays inside the report folder: relative, with no `..`, and
/// text (it is listed by name in `data/SHA256SUMS`).
fn inside(path: &Path) -> Result<()> {
    use std::path::Component;
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain && path.components().next().is_some() && path.to_str().is_some() {
        Ok(())
    } else {
        Err(ReportError::UnsafeFilePath(path.to_path_buf()))
    }
}

/// Builds every output in a staging folder beside `out`, then swaps it in.
pub fn publish(input: &ReportInput, out: &Path) -> Result<Published> {
    let started = std::time::Instant::now();
    for code in input.practices.keys() {
        if !safe_code(code) {
            return Err(ReportError::UnsafePracticeCode(code.clone()));
        }
    }
    for (path, _) in &input.extra_files {
        inside(path)?;
    }
    let (parent, name) = beside(out);
    std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    publication::recover(out, parent, &name)?;
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    if staging.exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    // A publication that cannot be finished (a full disk, an unwritable
    // file) leaves nothing behind: the last good one stays as it was.
    let files = files::Files::new(&staging, out);
    let built = build(input, &files)
        .and_then(|counts| Ok((counts, files.finish()?)))
        .and_then(|((indicator_pages, detail_pages), reused)| {
            let pages = 3 + indicator_pages + input.practices.len() * (1 + detail_pages);
            // The run record is the one file that differs from run to run
            // (its id, times, memory): not in the list of files, so that
            // two publications of the same results list the same bytes.
            if let Some(record) = input.run_record {
                let path = staging.join("run.json");
                std::fs::write(&path, record(pages, reused))
                    .map_err(|source| ReportError::Write { path, source })?;
            }
            Ok((pages, reused))
        });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let (pages, reused) = built?;
    tracing::debug!(
        linked = reused.linked,
        linked_bytes = reused.linked_bytes,
        written = reused.written,
        "files the same as the live publication's were linked"
    );
    publication::swap_in(&staging, out, parent, &name, input.keep_earlier)?;
    Ok(Published {
        index: out.join("index.html"),
        practice_pages: input.practices.len(),
        pages,
        result_rows: input.results.len(),
        reused,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The folder a publication `out` sits in, and its name there (staging and
/// set-aside folders sit beside it as `.NAME.staging-PID`, `.NAME.old-PID`).
fn beside(out: &Path) -> (&Path, String) {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    (parent, name)
}

/// Tidies what runs that have ended left beside the publication `out`:
/// puts back a publication a killed run had set aside, and removes killed
/// runs' staging folders (a whole publication each, gigabytes nationally).
/// `publish` does this first; a run with nothing new to publish calls it
/// too, so a killed run's copy does not wait for the next publication.
pub fn recover_publication(out: &Path) -> Result<()> {
    let (parent, name) = beside(out);
    publication::recover(out, parent, &name)
}

/// Runs `job(0..jobs)` on as many threads as the machine has cores, each
/// taking the next job as it finishes one; stops at the first error. Pages
/// are independent and each file's bytes do not depend on the order they
/// are written in, so the publication is the same as one thread's.
fn in_parallel(jobs: usize, job: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.max(1));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= jobs || failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        if let Err(e) = job(i) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                })
            })
            .collect();
        // One worker's error is reported (the others stop at their next
        // job); a panic is passed on.
        let mut first = Ok(());
        for w in workers {
            let outcome = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    })
}

/// Writes every output of the publication into `staging`; returns the
/// number of indicator pages and of detail pages per practice.
fn build(input: &ReportInput, files: &files::Files) -> Result<(usize, usize)> {
    let policy = input.disclosure;
    let data = files.root().join("data");
    std::fs::create_dir_all(&data).map_err(|source| ReportError::Write {
        path: data.clone(),
        source,
    })?;
    // Downloads carry the downloads policy; the pages apply their own. With
    // exact downloads the table is written as it is, without a copy, and
    // is started before the results are indexed for the pages; otherwise
    // it waits for the suppression the index works out.
    let disclosed: std::sync::OnceLock<Vec<ResultRow>> = std::sync::OnceLock::new();
    let exact = policy.downloads == Disclosure::Exact;
    // The results table is the largest file: its compressed CSV (itself
    // made on every core) and its Parquet are written on threads of their
    // own beside the pages, so that none waits for another.
    std::thread::scope(|scope| {
        let early = exact.then(|| write_table(scope, files, input.results));
        let made_from = scope.spawn(|| {
            let t = std::time::Instant::now();
            let made_from = inputs::Inputs::of(input);
            stage("hashed what the pages are made from (beside the index)", t);
            made_from
        });
        let t = std::time::Instant::now();
        let site = pages::Site::new(input);
        stage("indexed the results", t);
        let made_from = joined_with(made_from);
        let threads = early.unwrap_or_else(|| {
            let published = disclosed.get_or_init(|| {
                input
                    .results
                    .iter()
                    .map(|r| policy.downloads.apply(r, &site.sup))
                    .collect()
            });
            write_table(scope, files, published)
        });
        let pages = pages_and_downloads(input, &site, &made_from, files);
        let [csv, parquet] = threads.map(joined);
        let counts = pages?;
        csv?;
        parquet?;
        Ok(counts)
    })
}

/// Starts writing the results table `published` into `data`: its CSV and
/// its Parquet each on a thread of its own.
fn write_table<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    files: &'scope files::Files,
    published: &'scope [ResultRow],
) -> [std::thread::ScopedJoinHandle<'scope, Result<()>>; 2] {
    const CSV: &str = "data/indicator_results.csv.gz";
    const PARQUET: &str = "data/indicator_results.parquet";
    [
        alongside(
            scope,
            "results table as CSV (beside the pages)",
            move || {
                // Blocks of rows the same as last time are copied from the
                // live file, not compressed again.
                let earlier = files.earlier_blocks(CSV);
                let placed = write_csv_gz(&files.root().join(CSV), published, earlier.as_ref())?;
                files.blocks_placed(CSV, &placed);
                files.written_by_hand(CSV)
            },
        ),
        alongside(
            scope,
            "results table as Parquet (beside the pages)",
            move || {
                // Row groups (one an indicator) the same as last time are
                // copied from the live file, not encoded again.
                let earlier = files.earlier_row_groups(PARQUET);
                let (keys, copied) =
                    write_parquet(&files.root().join(PARQUET), published, earlier.as_ref())?;
                tracing::debug!(
                    "results table as Parquet: {copied} of {} row groups copied from the live file",
                    keys.len()
                );
                files.row_groups_placed(PARQUET, &keys);
                files.written_by_hand(PARQUET)
            },
        ),
    ]
}

/// Runs `work` on a thread of its own beside the pages; logs how long it
/// took as `what`, then hands back the memory it freed.
fn alongside<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    what: &'static str,
    work: impl FnOnce() -> Result<()> + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, Result<()>> {
    scope.spawn(move || {
        let t = std::time::Instant::now();
        work()?;
        stage(what, t);
        release_freed_memory();
        Ok(())
    })
}

/// A thread's outcome; its panic is passed on.
fn joined(thread: std::thread::ScopedJoinHandle<'_, Result<()>>) -> Result<()> {
    joined_with(thread)
}

/// A thread's result; its panic is passed on.
fn joined_with<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Hands freed memory back to the system (glibc's `malloc_trim`; other
/// allocators return memory on their own). glibc keeps it in the heap of
/// the thread that freed it, out of reach of the others: nationally over
/// two years the results table's Parquet and the workbook, finished while
/// the pages went on, kept about 0.2 GB the pages then took afresh, and the
/// run's peak rose past 4 GB. The pipeline calls it between indicators.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no
    // preconditions and may be called at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `release_freed_memory` once more than `bytes` lie freed in the heaps.
/// Handing back a few megabytes after every indicator costs more than it
/// saves: the next indicator's allocations fault the pages back in, each
/// zeroed by the kernel (nationally over two years, 7 CPU-seconds of
/// `clear_page` in the indicators stage).
pub fn release_freed_memory_over(bytes: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let free = unsafe { libc::mallinfo2() }.fordblks;
        if free > bytes {
            release_freed_memory();
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// Logs how long a stage of publishing took; returns the time it ended.
fn stage(what: &str, since: std::time::Instant) -> std::time::Instant {
    tracing::debug!("{what} in {:.2}s", since.elapsed().as_secs_f64());
    std::time::Instant::now()
}

/// Every page, with the CSV beside it, the workbook and the further files;
/// returns the number of indicator pages and of detail pages per practice.
fn pages_and_downloads(
    input: &ReportInput,
    site: &pages::Site,
    made_from: &inputs::Inputs,
    files: &files::Files,
) -> Result<(usize, usize)> {
    // The workbook needs only the index: it is made on a thread of its own
    // beside the pages (seconds of one core's work nationally, which at the
    // end of publishing left the other core idle).
    std::thread::scope(|scope| {
        let workbook = alongside(scope, "Excel workbook (beside the pages)", || {
            files.put("data/board-pack.xlsx", &workbook::board_workbook(site)?)
        });
        let pages = pages_and_csvs(input, site, made_from, files);
        let workbook = joined(workbook);
        let counts = pages?;
        workbook?;
        Ok(counts)
    })
}

/// Every page with the CSV beside it, and the further files.
fn pages_and_csvs(
    input: &ReportInput,
    site: &pages::Site,
    made_from: &inputs::Inputs,
    files: &files::Files,
) -> Result<(usize, usize)> {
    let t = std::time::Instant::now();
    let policy = input.disclosure;
    files.put(
        "indicators.html",
        catalogue_page(&input.title, input.indicators).as_bytes(),
    )?;
    files.put("index.html", site.board_page().as_bytes())?;
    files.put("how.html", site.how_page().as_bytes())?;
    // Each page's numbers beside it as CSV, under that page's policy: the
    // rows of the page's peer group, borrowed and disclosed row by row.
    let mut practice_rows: Map<&str, Vec<&ResultRow>> = Map::default();
    for r in input
        .results
        .iter()
        .filter(|r| *r.peer_group == *input.primary_peer_group)
    {
        practice_rows
            .entry(r.practice_code.as_str())
            .or_default()
            .push(r);
    }
    let practices = input.practices.len();
    let codes: Vec<&String> = input.practices.keys().collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let domains: Vec<_> = site
        .detail_domains()
        .into_iter()
        .map(|d| (d, site.indicators_in(d)))
        .collect();
    in_parallel(codes.len(), |i| {
        let code = codes[i];
        // For the CLI's progress bar (off unless it draws one).
        tracing::trace!(
            target: "peerbench_progress",
            bar = "writing practice pages",
            done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u64,
            total = practices as u64,
            "{code}"
        );
        files.put(
            &format!("practices/{code}.html"),
            site.practice_page(code).as_bytes(),
        )?;
        // A detail page made from the same rows as the live one is that
        // page (see `inputs`): linked, not made again.
        for (domain, indicators) in &domains {
            let name = format!("practices/{code}/{}.html", domain.as_str());
            let inputs = made_from.page("detail page", &name, indicators.iter().copied());
            if !files.reuse(&name, &inputs)? {
                let page = site.practice_domain_page(code, *domain);
                files.put_made_from(&name, page.as_bytes(), &inputs)?;
            }
        }
        let rows = practice_rows
            .get(code.as_str())
            .map_or(&[][..], Vec::as_slice);
        let name = format!("practices/{code}.csv");
        // The download is its rows as disclosed, written out: the same
        // disclosed rows make the same file, linked rather than made.
        let disclosed: Vec<_> = rows
            .iter()
            .map(|r| {
                policy.practice_pages.apply_with_peers(
                    policy.peers_on_practice_pages(),
                    r,
                    &site.sup,
                )
            })
            .collect();
        let inputs = made_from.rows("practice download", &name, &disclosed);
        if !files.reuse(&name, &inputs)? {
            let csv = csv_vec(&name, &disclosed)?;
            files.put_made_from(&name, &csv, &inputs)?;
        }
        Ok(())
    })?;
    tracing::trace!(
        target: "peerbench_progress",
        bar = "writing practice pages",
        done = practices as u64,
        total = practices as u64,
        ""
    );
    let t = stage("board, catalogue and practice pages with their CSVs", t);
    let published_indicators = site.published_indicators();
    let indicator_pages = published_indicators.len();
    in_parallel(indicator_pages, |i| {
        let ind = published_indicators[i];
        let name = format!("board/{}.html", ind.id);
        let inputs = made_from.page("indicator page", &name, [ind.id.as_str()]);
        if !files.reuse(&name, &inputs)? {
            files.put_made_from(&name, site.indicator_page(ind).as_bytes(), &inputs)?;
        }
        let name = format!("board/{}.csv", ind.id);
        let inputs = made_from.page("indicator download", &name, [ind.id.as_str()]);
        if !files.reuse(&name, &inputs)? {
            let csv = csv_vec(
                &name,
                site.indicator_rows(&ind.id)
                    .iter()
                    .map(|r| policy.board.apply(r, &site.sup)),
            )?;
            files.put_made_from(&name, &csv, &inputs)?;
        }
        Ok(())
    })?;
    let t = stage("indicator pages with their CSVs", t);
    files.put("data/changes.csv", &table::changes_csv(&site.changes())?)?;
    let t = stage("changes", t);
    for (path, contents) in &input.extra_files {
        // Checked by `inside`: plain names, no `..`, and text.
        let name: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
        let name = name.ok_or_else(|| ReportError::UnsafeFilePath(path.clone()))?;
        files.put(&name.join("/"), contents)?;
    }
    stage("further files", t);
    Ok((indicator_pages, domains.len()))
}

#[cfg(test)]
mod jump_tests {
    use super::*;

    #[test]
    fn a_jump_reads_as_a_person_would_write_it() {
        let j = Jump {
            practice_code: "A81003".into(),
            measure: "registered patients".into(),
            previous_period: "2026-08".into(),
            latest_period: "2026-09".into(),
            previous: 10212,
            latest: 8901,
        };
        assert_eq!(
            j.describe(),
            "registered patients 10,212 → 8,901 (−12.8%), 2026-08 to 2026-09"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_job_runs_once() {
        let done = Mutex::new(Vec::new());
        in_parallel(1000, |i| {
            done.lock().unwrap().push(i);
            Ok(())
        })
        .unwrap();
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, (0..1000).collect::<Vec<_>>());
        in_parallel(0, |_| unreachable!()).unwrap();
    }

    #[test]
    fn a_failing_job_fails_the_whole_and_stops_the_rest() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let outcome = in_parallel(10_000, |i| {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i == 3 {
                return Err(ReportError::UnsafePracticeCode(format!("job {i}")));
            }
            // Slow enough that the others cannot all finish first.
            std::thread::sleep(std::time::Duration::from_millis(1));
            Ok(())
        });
        assert!(
            matches!(&outcome, Err(ReportError::UnsafePracticeCode(c)) if c == "job 3"),
            "{outcome:?}"
        );
        // The other workers stop at their next job rather than run all 10,000.
        assert!(started.into_inner() < 10_000);
    }
}
