//! Loading: each source's files read (on a blocking thread) and streamed
//! into one Delta write, unless the ledger says nothing changed; then the
//! quarantine log and the ledger record what the load did.

use crate::PracticeCodes;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use peerbench_warehouse::{Commit, Warehouse};
use tracing::Instrument;

use crate::extraction::{
    Extract, extracts, hash_file, label, literal_folder, open_extract, outside_entry, outside_links,
};
use crate::landing::{Landing, unclaimed_entry, unclaimed_files};
use crate::ledger::{first_loaded, last_loaded, load_definition, unchanged_outcome};
use crate::outcome::{FileOutcome, IngestSummary, SourceOutcome, count_by_check};
use crate::resubmission::{Resubmission, Supersession, newest_first};
use crate::source::{rejection_warning, too_many_rejected};
use crate::tables::register_codes;
use crate::{
    Check, FileStats, IngestError, LOG_TARGET, QuarantinedRow, Result, Source, quarantine,
    read_stream, schema_for,
};

/// The rows of a load on their way to the Delta write. The write commits
/// when the stream ends, so a reader that stops early for any reason (a
/// panic included) must end it with an error, never just close it: that
/// would commit half a source.
struct Rows {
    tx: tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    /// Set once every file has been read and the outcome sent.
    finished: std::sync::atomic::AtomicBool,
}

impl Rows {
    fn send(
        &self,
        rows: datafusion::error::Result<RecordBatch>,
    ) -> std::result::Result<
        (),
        tokio::sync::mpsc::error::SendError<datafusion::error::Result<RecordBatch>>,
    > {
        self.tx.blocking_send(rows)
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        if !self.finished.load(std::sync::atomic::Ordering::Acquire) {
            let _ = self
                .tx
                .blocking_send(Err(datafusion::error::DataFusionError::Execution(
                    "reading the source stopped before its end; nothing is committed".into(),
                )));
        }
    }
}

/// What reading a source's files found, besides the rows sent to the write.
struct SourceRead {
    files: Vec<FileOutcome>,
    rejected: Vec<QuarantinedRow>,
    resubmissions: Vec<Resubmission>,
    /// Set when the source as a whole is refused: the write was told to fail.
    refused: Option<IngestError>,
}

/// What the files read so far have settled, shared by the threads reading
/// a source's files; files hand on their rows and settle one at a time, in
/// `order`.
struct InOrder<'s> {
    /// The position in `order` of the file whose turn it is.
    turn: usize,
    /// A file refused the source, or the write stopped: no further turns.
    stopped: bool,
    files: Vec<FileOutcome>,
    rejected: Vec<QuarantinedRow>,
    supersession: Supersession<'s>,
    sent_any: bool,
    unbalanced: Option<IngestError>,
}

/// Reads a source's files in `order` (newest arrival first, see
/// [`crate::resubmission`]), sending the rows that pass into `tx` (the
/// Delta write) and keeping the rest.
///
/// Files are read and checked side by side, as many at once as the machine
/// has cores (a file is read to its end and spooled before any of its rows
/// is handed on, see [`read_stream`]), but they hand on their rows and
/// settle strictly one after another in `order`: which rows a resubmission
/// replaces, and everything the load records, is as if they were read one
/// at a time.
fn read_source(
    source: &Source,
    paths: &[PathBuf],
    files: Vec<FileOutcome>,
    order: &[usize],
    known_practices: Option<&PracticeCodes>,
    tx: &Rows,
) -> SourceRead {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, MutexGuard};

    let shape = &source.shape;
    let known = if source.check_register {
        known_practices
    } else {
        None
    };
    let labels: Vec<String> = files.iter().map(|f| f.file.clone()).collect();
    let state = Mutex::new(InOrder {
        turn: 0,
        stopped: false,
        files,
        rejected: Vec::new(),
        supersession: Supersession::new(shape.practice_column().zip(shape.period_column())),
        sent_any: false,
        unbalanced: None,
    });
    let turned = Condvar::new();
    // A poisoned lock means a reader panicked; the panic is passed on when
    // the threads are joined, and `Rows` fails the write.
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    // The state once it is position `k`'s turn; None once reading stopped.
    let my_turn = |k: usize| -> Option<MutexGuard<'_, InOrder<'_>>> {
        let mut st = lock();
        while st.turn != k && !st.stopped {
            st = turned.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        (!st.stopped).then_some(st)
    };
    let next = AtomicUsize::new(0);
    let span = tracing::Span::current();
    let reader = || {
        let _in_span = span.enter();
        // A panicking reader stops the others waiting for its turn.
        let _stop_on_panic = StopOnPanic(&|| {
            lock().stopped = true;
            turned.notify_all();
        });
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= order.len() || lock().stopped {
                return;
            }
            let i = order[k];
            let file = &labels[i];
            // For the CLI's progress bar (off unless it draws one).
            tracing::trace!(
                target: "peerbench_progress",
                bar = %format_args!("loading {}", source.table),
                done = k as u64,
                total = order.len() as u64,
                "{file}"
            );
            let mut claim = None;
            let mut loaded = 0usize;
            let mut write_stopped = false;
            let read = read_extract(source, &paths[i], file, known, &mut |batch| {
                let mut st = my_turn(k).ok_or_else(|| IngestError::WriteStopped {
                    table: source.table.clone(),
                })?;
                let claim = claim.get_or_insert_with(|| st.supersession.claim(i));
                let batch = st.supersession.keep_latest(claim, batch, file)?;
                loaded += batch.num_rows();
                if batch.num_rows() > 0 {
                    st.sent_any = true;
                    tx.send(Ok(batch)).map_err(|_| {
                        write_stopped = true;
                        IngestError::WriteStopped {
                            table: source.table.clone(),
                        }
                    })?;
                }
                Ok(())
            });
            let Some(mut st) = my_turn(k) else {
                return;
            };
            if write_stopped {
                st.stopped = true;
            } else {
                let claim = claim.unwrap_or_else(|| st.supersession.claim(i));
                let handed_on = (loaded, claim.superseded);
                let InOrder {
                    files,
                    rejected,
                    supersession,
                    unbalanced,
                    stopped,
                    ..
                } = &mut *st;
                match settle_file(source, &mut files[i], read, handed_on, rejected) {
                    Ok(()) => supersession.settle(claim),
                    Err(e) => {
                        *unbalanced = Some(e);
                        *stopped = true;
                    }
                }
            }
            st.turn += 1;
            drop(st);
            turned.notify_all();
        }
    };
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(order.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..readers {
            scope.spawn(reader);
        }
    });
    let InOrder {
        files,
        mut rejected,
        supersession,
        sent_any,
        unbalanced,
        ..
    } = state.into_inner().unwrap_or_else(|p| p.into_inner());
    tracing::trace!(
        target: "peerbench_progress",
        bar = %format_args!("loading {}", source.table),
        done = order.len() as u64,
        total = order.len() as u64,
        ""
    );
    let resubmissions = supersession.resubmissions(&files);
    // Files were read newest first; people read the quarantine by file name.
    rejected.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let refused = unbalanced.or_else(|| too_many_rejected(source, &files, &rejected));
    if refused.is_some() {
        // Fail the write before it commits: the table keeps its last version.
        let _ = tx.send(Err(datafusion::error::DataFusionError::Execution(format!(
            "source {} refused; nothing of it is committed",
            source.table
        ))));
    } else if !sent_any {
        // An empty load still commits, so the table exists with its schema.
        let _ = tx.send(Ok(RecordBatch::new_empty(schema_for(shape))));
    }
    tx.finished
        .store(true, std::sync::atomic::Ordering::Release);
    SourceRead {
        files,
        rejected,
        resubmissions,
        refused,
    }
}

/// Runs its closure if the thread unwinds from a panic while it is held.
struct StopOnPanic<'f>(&'f dyn Fn());

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.0)();
        }
    }
}

/// Reads one extract (gzip or not) of a source, handing its rows to `emit`.
fn read_extract(
    source: &Source,
    path: &Path,
    file: &str,
    known: Option<&PracticeCodes>,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<FileStats> {
    let (input, gzip) = open_extract(path)?;
    read_stream(
        &source.table,
        file,
        input,
        &source.shape,
        known,
        source.max_quoted_lines,
        emit,
    )
    .map_err(|e| match e {
        // A corrupt gzip stream surfaces as a read error part-way.
        IngestError::Stream { reason, .. } if gzip => IngestError::BadGzip {
            file: file.to_string(),
            reason,
        },
        e => e,
    })
}

/// Records what reading one file came to in its outcome, given the rows it
/// handed on (`loaded`, `superseded`); a file that could not be read at all
/// is quarantined whole. Err when rows are unaccounted for: then the whole
/// source is refused (its rows are already on their way to the write).
fn settle_file(
    source: &Source,
    outcome: &mut FileOutcome,
    read: Result<FileStats>,
    (loaded, superseded): (usize, usize),
    rejected: &mut Vec<QuarantinedRow>,
) -> Result<()> {
    let file = &outcome.file;
    match read {
        // Rows handed on were loaded or superseded; the rest were set aside.
        Ok(stats) if stats.rows_read != loaded + superseded + stats.quarantined.len() => {
            Err(IngestError::Unbalanced {
                file: file.clone(),
                read: stats.rows_read,
                accounted: loaded + superseded + stats.quarantined.len(),
            })
        }
        Ok(stats) => {
            tracing::debug!(
                target: LOG_TARGET,
                file,
                encoding = stats.encoding,
                rows = stats.rows_read,
                "read"
            );
            outcome.encoding = stats.encoding;
            outcome.rows_read = stats.rows_read;
            outcome.rows_loaded = loaded;
            outcome.rows_quarantined = stats.quarantined.len();
            outcome.rows_superseded = superseded;
            rejected.extend(stats.quarantined);
            Ok(())
        }
        // Rows handed on before the file failed (its spool failing as it
        // was handed on): they are in the write but would be counted as
        // set aside, so the source is refused.
        Err(_) if loaded + superseded > 0 => Err(IngestError::Unbalanced {
            file: file.clone(),
            read: 1,
            accounted: loaded + superseded + 1,
        }),
        Err(e) => {
            // A file that cannot be read at all is quarantined whole; the
            // source's other files still load.
            tracing::warn!(target: LOG_TARGET, "{e}");
            let check = match e {
                IngestError::PatientIdentifiers { .. } => Check::PatientIdentifiers,
                IngestError::LineTooLong { .. } => Check::LineTooLong,
                _ => Check::UnreadableFile,
            };
            rejected.push(QuarantinedRow::new(
                &source.table,
                file,
                0,
                check,
                e.to_string(),
                "",
            ));
            // One entry in the quarantine, so one row read and one set
            // aside: the books balance (read = loaded + set aside +
            // superseded) for the file, the source and the run record, as
            // the ledger has them when the file is unchanged next night.
            outcome.rows_read = 1;
            outcome.rows_quarantined = 1;
            outcome.error = Some(e.to_string());
            Ok(())
        }
    }
}

/// Each extract's outcome before it is read: its name and content hash.
/// Files are hashed on blocking threads, as many at once as there are
/// cores: nationally over two years that is 2.8 GiB, and hashed on the
/// runtime's own thread it held up the source loading beside this one (and
/// a run with nothing new spent two seconds on one core).
async fn hashed(table: &str, extracts: &[Extract]) -> Result<Vec<FileOutcome>> {
    use futures::{StreamExt, TryStreamExt};
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get());
    futures::stream::iter(extracts)
        .map(|extract| async move {
            let path = extract.path.clone();
            let sha256 = tokio::task::spawn_blocking(move || hash_file(&path))
                .await
                .map_err(|source| IngestError::Reader {
                    table: table.to_string(),
                    source,
                })??;
            Ok(FileOutcome::unread(
                extract.label.clone(),
                extract.key.clone(),
                sha256,
            ))
        })
        .buffered(at_once)
        .try_collect()
        .await
}

/// Reads the source's files on a blocking thread while the Delta write
/// takes their rows through a small channel (at most a few batches in
/// flight), and returns what the read found and what the write committed.
async fn read_and_write(
    warehouse: &Warehouse,
    source: &Source,
    paths: Vec<PathBuf>,
    files: Vec<FileOutcome>,
    order: Vec<usize>,
    known_practices: Option<&PracticeCodes>,
) -> Result<(SourceRead, peerbench_warehouse::Result<Commit>)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let reading = {
        let source = source.clone();
        let known = known_practices.cloned();
        // The reader's log lines belong to the run and stage that started it.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_span = span.enter();
            let rows = Rows {
                tx,
                finished: std::sync::atomic::AtomicBool::new(false),
            };
            read_source(&source, &paths, files, &order, known.as_ref(), &rows)
        })
    };
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let metadata = HashMap::from([(
        "peerbench.operation".to_string(),
        serde_json::json!("ingest"),
    )]);
    let written = warehouse
        .overwrite_stream(
            &source.table,
            schema_for(&source.shape),
            Box::pin(stream),
            metadata,
        )
        .await;
    let read = reading.await.map_err(|e| IngestError::Reader {
        table: source.table.clone(),
        source: e,
    })?;
    Ok((read, written))
}

/// Loads one source: unless every file is unchanged since the last load
/// (by content hash), reads and checks every file and replaces the table in
/// one commit. Files are streamed into the write as they are read, so
/// memory stays bounded whatever the source's size. `bookkeeping` is held
/// while the quarantine log and the ledger, which every source appends to,
/// are written: sources loading side by side take turns there rather than
/// race for the same Delta versions.
async fn load_source(
    warehouse: &Warehouse,
    source: &Source,
    base_dir: &Path,
    known_practices: Option<&PracticeCodes>,
    quarantine: &mut Vec<QuarantinedRow>,
    bookkeeping: &tokio::sync::Mutex<()>,
) -> Result<SourceOutcome> {
    let extracts = extracts(source, base_dir).await?;
    let folder = literal_folder(&base_dir.join(&source.files));
    for path in outside_links(source, base_dir) {
        let entry = outside_entry(&source.table, &path, &label(&folder));
        tracing::warn!(target: LOG_TARGET, "{}", entry.reason);
        quarantine.push(entry);
    }
    let paths: Vec<PathBuf> = extracts.iter().map(|e| e.path.clone()).collect();
    let files = hashed(&source.table, &extracts).await?;
    let current: HashSet<(String, String)> = files
        .iter()
        .map(|f| (f.key.clone(), f.sha256.clone()))
        .collect();
    let table_exists = warehouse.version(&source.table).await?.is_some();
    let definition = load_definition(source, known_practices);
    if table_exists
        && current == last_loaded(warehouse, &source.table, &definition).await?
        && let Some((outcome, rejected)) =
            unchanged_outcome(warehouse, source, files.clone(), None).await?
    {
        tracing::info!(
            target: LOG_TARGET,
            table = source.table,
            "unchanged since the last load; nothing read or committed"
        );
        quarantine.extend(rejected);
        return Ok(outcome);
    }

    let order = newest_first(&files, &first_loaded(warehouse, &source.table).await?);
    let (read, written) =
        read_and_write(warehouse, source, paths, files, order, known_practices).await?;
    let SourceRead {
        files,
        rejected,
        resubmissions,
        refused,
    } = read;
    let by_check = count_by_check(&rejected);
    quarantine.extend(rejected.iter().cloned());
    if let Some(refused) = refused {
        return Err(refused);
    }
    let commit = written?;
    let _turn = bookkeeping.lock().await;
    // The set-aside rows are logged against the version just committed,
    // before the ledger vouches for the load: a run killed in between
    // leaves a ledger that does not name this version, and reloads.
    if !rejected.is_empty() {
        quarantine::log_rows(warehouse, &rejected, commit.version).await?;
    }
    if let Some(w) = rejection_warning(source, &files) {
        tracing::warn!(target: LOG_TARGET, "{w}");
    }
    for r in &resubmissions {
        tracing::info!(
            target: LOG_TARGET,
            table = source.table,
            earlier = r.earlier,
            later = r.later,
            practice_periods = r.practice_periods.len(),
            rows = r.rows,
            "resubmission replaces earlier rows"
        );
    }
    // The ledger is written after the table: a crash between the two leaves a
    // ledger that disagrees with the files, so the next run reloads (converges).
    crate::ledger::record(
        warehouse,
        &source.table,
        &files,
        commit.version,
        &definition,
    )
    .await?;
    tracing::info!(
        target: LOG_TARGET,
        table = source.table,
        version = commit.version,
        rows = files.iter().map(|f| f.rows_loaded).sum::<usize>(),
        "loaded"
    );
    Ok(SourceOutcome {
        table: source.table.clone(),
        warning: rejection_warning(source, &files),
        files,
        committed_version: Some(commit.version),
        quarantine_by_check: by_check,
        resubmissions,
    })
}

/// [`load_source`] in the source's log span, with the rows it set aside.
async fn load_logged(
    warehouse: &Warehouse,
    source: &Source,
    base_dir: &Path,
    known_practices: Option<&PracticeCodes>,
    bookkeeping: &tokio::sync::Mutex<()>,
) -> Result<(SourceOutcome, Vec<QuarantinedRow>)> {
    let span = tracing::info_span!(target: LOG_TARGET, "source", table = source.table);
    let mut quarantined = Vec::new();
    let outcome = load_source(
        warehouse,
        source,
        base_dir,
        known_practices,
        &mut quarantined,
        bookkeeping,
    )
    .instrument(span)
    .await?;
    Ok((outcome, quarantined))
}

/// Loads every source (the register first, if one is named, since the
/// others' rows are checked against it), then replaces the quarantine table
/// when anything changed.
///
/// The other sources load side by side, as many at a time as the machine
/// has cores: each reads its files on one thread, so one at a time left a
/// core idle (a national load used 1.15 of 2). Outcomes and set-aside rows
/// are kept in the sources' order, so the summary and the quarantine are
/// the same however the loads interleave. A source that fails stops the
/// ingest as before; a source still loading beside it is dropped before
/// it commits, or, if it had committed, before its ledger vouches for the
/// load, so the next run loads it again.
pub async fn ingest(
    warehouse: &Warehouse,
    sources: &[Source],
    base_dir: &Path,
    register_table: Option<&str>,
    landing: &Landing,
) -> Result<IngestSummary> {
    use futures::{StreamExt, TryStreamExt};
    let mut summary = IngestSummary::default();
    let (register, others): (Vec<&Source>, Vec<&Source>) = sources
        .iter()
        .partition(|s| Some(s.table.as_str()) == register_table);
    let bookkeeping = tokio::sync::Mutex::new(());
    let mut known: Option<PracticeCodes> = None;
    for source in register {
        let (outcome, quarantined) =
            load_logged(warehouse, source, base_dir, None, &bookkeeping).await?;
        known = register_codes(warehouse, &source.table).await?;
        summary.sources.push(outcome);
        summary.quarantined.extend(quarantined);
    }
    let side_by_side = std::thread::available_parallelism().map_or(1, |n| n.get());
    let loaded: Vec<_> = futures::stream::iter(others)
        .map(|source| load_logged(warehouse, source, base_dir, known.as_ref(), &bookkeeping))
        .buffered(side_by_side)
        .try_collect()
        .await?;
    for (outcome, quarantined) in loaded {
        summary.sources.push(outcome);
        summary.quarantined.extend(quarantined);
    }
    for (path, outside) in unclaimed_files(landing, sources, base_dir) {
        if let Some(folder) = outside {
            let entry = outside_entry("", &path, &label(&folder));
            tracing::warn!(target: LOG_TARGET, "{}", entry.reason);
            summary.quarantined.push(entry);
            continue;
        }
        let file = label(&path);
        tracing::warn!(target: LOG_TARGET, "{file}: no source in the pipeline reads this file");
        summary.quarantined.push(unclaimed_entry(&file, sources));
        summary.unclaimed.push(file);
    }
    // The quarantine table is what one clean run of these files would set
    // aside: rewritten whenever it differs, so rows lost to an earlier run
    // that failed or was killed before rewriting it come back.
    quarantine::rewrite(warehouse, &summary.quarantined).await?;
    Ok(summary)
}
