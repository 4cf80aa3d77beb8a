//! One gzip file compressed on every core, as `pigz` does: the data is made
//! and compressed in blocks side by side, each block a raw deflate stream
//! ended with a sync flush (a byte boundary with no final-block mark), so
//! the blocks written one after another are one deflate stream; the last
//! block finishes it. The file is a single gzip member with the header a
//! one-thread `GzEncoder` writes and the CRC-32 and length of the whole,
//! combined from the blocks'. Every gzip reader reads it as it reads any
//! other; only the compressed bytes differ from one thread's (a block does
//! not look back into the one before it, which costs well under 1% here).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::{ReportError, Result};

/// The header of a gzip member as flate2's `GzEncoder` writes it at levels
/// 2–8: no name or time, no extra flags, operating system unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A block made and compressed, waiting for its turn to be written.
struct Block {
    deflated: Vec<u8>,
    crc: crc32fast::Hasher,
    len: usize,
    /// The SHA-256 of the block's data, by which the next file finds it.
    sha: Sha,
}

/// Where a block's compressed bytes are in a file written by
/// [`write_blocks`], and what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The SHA-256 of the block's data (and the level it was compressed at).
    pub sha: Sha,
    pub last: bool,
    pub offset: u64,
    pub deflated: u64,
    pub crc: u32,
    pub len: u64,
}

impl Placed {
    /// As [`Placed::parse`] reads it back.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.offset, self.deflated, self.crc, self.len, self.last as u8
        )
    }

    pub fn parse(sha: Sha, text: &str) -> Option<Placed> {
        let mut f = text.split(' ');
        let mut next = || f.next()?.parse::<u64>().ok();
        Some(Placed {
            sha,
            offset: next()?,
            deflated: next()?,
            crc: u32::try_from(next()?).ok()?,
            len: next()?,
            last: next()? == 1,
        })
    }
}

/// The blocks of the file written before, whose compressed bytes are copied
/// where a new block's data are the same: deflating is most of the cost of
/// writing the file, and after one practice resubmits most blocks are.
pub struct Earlier {
    file: File,
    blocks: std::collections::HashMap<(Sha, bool), Placed>,
}

impl Earlier {
    /// `file`'s blocks as `placed` says, if they fit in it.
    pub fn new(file: File, placed: impl IntoIterator<Item = Placed>) -> Option<Earlier> {
        let size = file.metadata().ok()?.len();
        let blocks: std::collections::HashMap<_, _> =
            placed.into_iter().map(|p| ((p.sha, p.last), p)).collect();
        let fits = blocks.values().all(|p| {
            p.offset
                .checked_add(p.deflated)
                .is_some_and(|end| end <= size)
        });
        (fits && !blocks.is_empty()).then_some(Earlier { file, blocks })
    }

    /// The block with data `sha`, read from the earlier file.
    fn block(&self, sha: &Sha, last: bool) -> Option<Block> {
        let p = self.blocks.get(&(*sha, last))?;
        let mut deflated = vec![0u8; usize::try_from(p.deflated).ok()?];
        // Read at its place, on whichever thread asks (no shared position).
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut deflated, p.offset).ok()?;
        #[cfg(windows)]
        {
            let mut at = 0;
            while at < deflated.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    &self.file,
                    &mut deflated[at..],
                    p.offset + at as u64,
                )
                .ok()?;
                if n == 0 {
                    return None;
                }
                at += n;
            }
        }
        Some(Block {
            deflated,
            crc: crc32fast::Hasher::new_with_initial_len(p.crc, p.len),
            len: usize::try_from(p.len).ok()?,
            sha: *sha,
        })
    }
}

type Sha = [u8; 32];

/// A block's key, unless given: the SHA-256 of its level and data.
fn data_key(level: u32, data: &[u8]) -> Sha {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(level.to_le_bytes());
    h.update(data);
    h.finalize().into()
}

/// What the block makers and the writer share: the blocks done and not
/// yet written, how many are written, and the first error.
struct Shared {
    /// Each block made, failed, or the panic of the thread making it,
    /// which the writer passes on (waiting for it instead would hang).
    done: BTreeMap<usize, std::thread::Result<Result<Block>>>,
    written: usize,
}

/// Writes the blocks `make(0)`, `make(1)`, … `make(blocks - 1)`, in that
/// order, gzip-compressed at `level` into `path`. `make` runs on as many
/// threads as the machine has cores, a few blocks ahead of the writer at
/// most, so memory stays at a few blocks whatever the file's size. A block
/// whose data `earlier` has is copied from it, not compressed again; the
/// blocks' places are returned for the next file. A block is known by the
/// SHA-256 of its level and data, or by `key(i)` when given, which must
/// then stand for everything `make(i)` makes it from (a block found by its
/// key is not made at all).
pub fn write_blocks(
    path: &Path,
    blocks: usize,
    level: u32,
    earlier: Option<&Earlier>,
    key: Option<&(dyn Fn(usize) -> Sha + Sync)>,
    make: impl Fn(usize) -> Result<Vec<u8>> + Sync,
) -> Result<Vec<Placed>> {
    let io = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(blocks.max(1));
    let ahead = 2 * threads;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let shared = Mutex::new(Shared {
        done: BTreeMap::new(),
        written: 0,
    });
    let turn = Condvar::new();
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    // Stopping is set under the lock, as a worker's wait checks it under the
    // lock: set outside it, a worker that had just found it unset and was
    // about to wait missed the wake-up and waited for ever, and the run
    // with it (a test of a block that panics hung in CI once).
    let halt = || {
        let state = lock();
        stop.store(true, Ordering::Relaxed);
        drop(state);
        turn.notify_all();
    };
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    let mut crc = crc32fast::Hasher::new();
    let mut len: usize = 0;
    let mut placed = Vec::with_capacity(blocks);
    let mut offset = HEADER.len() as u64;
    let written = std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= blocks {
                        return;
                    }
                    // Wait until the writer is near enough: at most `ahead`
                    // blocks are held at once.
                    let mut state = lock();
                    while i >= state.written + ahead && !stop.load(Ordering::Relaxed) {
                        state = turn.wait(state).unwrap_or_else(|p| p.into_inner());
                    }
                    drop(state);
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let block = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let last = i + 1 == blocks;
                        let copied = |sha: &Sha| earlier.and_then(|e| e.block(sha, last));
                        let compressed =
                            |data: &[u8], sha| deflate(data, level, last, sha).map_err(io);
                        match key.map(|key| key(i)) {
                            // Known by its key: copied without being made.
                            Some(sha) => copied(&sha).map_or_else(
                                || make(i).and_then(|data| compressed(&data, sha)),
                                Ok,
                            ),
                            // Known by its data: made, then copied or compressed.
                            None => make(i).and_then(|data| {
                                let sha = data_key(level, &data);
                                copied(&sha).map_or_else(|| compressed(&data, sha), Ok)
                            }),
                        }
                    }));
                    lock().done.insert(i, block);
                    turn.notify_all();
                }
            });
        }
        // The writer: each block in turn, as soon as it is done. Stopping
        // on an error wakes the makers, who then stop too.
        let outcome = (|| -> Result<()> {
            out.write_all(&HEADER).map_err(io)?;
            for i in 0..blocks {
                let block = {
                    let mut state = lock();
                    loop {
                        if let Some(block) = state.done.remove(&i) {
                            break block;
                        }
                        state = turn.wait(state).unwrap_or_else(|p| p.into_inner());
                    }
                };
                let block = match block {
                    Ok(block) => block?,
                    Err(panic) => {
                        halt();
                        std::panic::resume_unwind(panic);
                    }
                };
                out.write_all(&block.deflated).map_err(io)?;
                placed.push(Placed {
                    sha: block.sha,
                    last: i + 1 == blocks,
                    offset,
                    deflated: block.deflated.len() as u64,
                    crc: block.crc.clone().finalize(),
                    len: block.len as u64,
                });
                offset += block.deflated.len() as u64;
                crc.combine(&block.crc);
                len += block.len;
                lock().written = i + 1;
                turn.notify_all();
            }
            Ok(())
        })();
        if outcome.is_err() {
            halt();
        }
        outcome
    });
    written?;
    if blocks == 0 {
        // No data: an empty deflate stream (one final empty block).
        out.write_all(&deflate(&[], level, true, [0; 32]).map_err(io)?.deflated)
            .map_err(io)?;
    }
    // The trailer: CRC-32 and length (modulo 2^32) of the whole, little-endian.
    out.write_all(&crc.finalize().to_le_bytes()).map_err(io)?;
    out.write_all(&(len as u32).to_le_bytes()).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(placed)
}

/// Compresses one block as raw deflate, ended with a sync flush or, for
/// the last block, finished.
fn deflate(data: &[u8], level: u32, last: bool, sha: Sha) -> std::io::Result<Block> {
    let mut c = Compress::new(Compression::new(level), false);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut deflated = Vec::with_capacity(data.len() / 4 + 64);
    loop {
        if deflated.capacity() - deflated.len() < 64 {
            deflated.reserve(deflated.capacity().max(4096));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut deflated, flush)
            .map_err(std::io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        // zlib's rule: a flush is complete when it returns with room left.
        let flushed = if last {
            status == Status::StreamEnd
        } else {
            deflated.len() < deflated.capacity()
        };
        if all_in && flushed {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    Ok(Block {
        deflated,
        crc,
        len: data.len(),
        sha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Reads `path` as one gzip member (`GzDecoder` stops at the end of
    /// the first), checking its CRC and length as it goes.
    fn one_member(path: &Path) -> Vec<u8> {
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut data)
            .unwrap();
        data
    }

    fn block(i: usize) -> Vec<u8> {
        // Text that compresses, with a run of bytes that does not.
        let mut b: Vec<u8> = (0..5000)
            .flat_map(|r| format!("{i},{r},E8{:04},{}\n", r % 37, r * i).into_bytes())
            .collect();
        b.extend((0..997u32).map(|x| (x.wrapping_mul(2_654_435_761) >> 24) as u8));
        b
    }

    #[test]
    fn blocks_made_side_by_side_are_one_gzip_member_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for blocks in [0, 1, 2, 7, 40] {
            let path = dir.path().join(format!("t{blocks}.csv.gz"));
            write_blocks(&path, blocks, 6, None, None, |i| Ok(block(i))).unwrap();
            let expected: Vec<u8> = (0..blocks).flat_map(block).collect();
            assert_eq!(one_member(&path), expected, "{blocks} blocks");
            // The same header as a one-thread writer's.
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes[..10], HEADER);
        }
    }

    #[test]
    fn blocks_with_the_same_data_are_copied_from_the_earlier_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.csv.gz");
        let placed = write_blocks(&first, 7, 6, None, None, |i| Ok(block(i))).unwrap();
        assert_eq!(placed.len(), 7);
        // What is kept for the next file reads back.
        for p in &placed {
            assert_eq!(Placed::parse(p.sha, &p.describe()), Some(*p));
        }
        let earlier = Earlier::new(File::open(&first).unwrap(), placed).unwrap();
        // Block 3 changes, and one more block makes the old last one not last.
        let changed = |i: usize| if i == 3 { block(100) } else { block(i) };
        assert!(earlier.block(&data_key(6, &block(0)), false).is_some());
        assert!(
            earlier.block(&data_key(6, &block(6)), false).is_none(),
            "was the last"
        );
        assert!(earlier.block(&data_key(6, &block(100)), false).is_none());
        let second = dir.path().join("second.csv.gz");
        let again = write_blocks(&second, 8, 6, Some(&earlier), None, |i| Ok(changed(i))).unwrap();
        let expected: Vec<u8> = (0..8).flat_map(changed).collect();
        assert_eq!(one_member(&second), expected);
        // Byte for byte what compressing every block afresh writes.
        let fresh = dir.path().join("fresh.csv.gz");
        let placed_fresh = write_blocks(&fresh, 8, 6, None, None, |i| Ok(changed(i))).unwrap();
        assert_eq!(
            std::fs::read(&second).unwrap(),
            std::fs::read(&fresh).unwrap()
        );
        assert_eq!(again, placed_fresh);
        // Places that do not fit the file are not trusted.
        let too_far = Placed {
            offset: u64::MAX - 1,
            ..again[0]
        };
        assert!(Earlier::new(File::open(&second).unwrap(), [too_far]).is_none());
    }

    #[test]
    fn a_block_known_by_its_key_is_copied_without_being_made() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.csv.gz");
        // Keyed by the block's number here, as the results table keys
        // blocks by their rows.
        let key = |i: usize| [i as u8; 32];
        let placed = write_blocks(&first, 5, 6, None, Some(&key), |i| Ok(block(i))).unwrap();
        let earlier = Earlier::new(File::open(&first).unwrap(), placed).unwrap();
        let made = AtomicUsize::new(0);
        // Block 2 has a new key (its data changed); the rest are known.
        let key2 = |i: usize| if i == 2 { [99; 32] } else { [i as u8; 32] };
        let changed = |i: usize| if i == 2 { block(50) } else { block(i) };
        let second = dir.path().join("second.csv.gz");
        write_blocks(&second, 5, 6, Some(&earlier), Some(&key2), |i| {
            made.fetch_add(1, Ordering::Relaxed);
            Ok(changed(i))
        })
        .unwrap();
        assert_eq!(made.into_inner(), 1, "only the changed block is made");
        let expected: Vec<u8> = (0..5).flat_map(changed).collect();
        assert_eq!(one_member(&second), expected);
    }

    #[test]
    fn a_block_that_panics_passes_the_panic_on_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv.gz");
        let outcome = std::panic::catch_unwind(|| {
            write_blocks(&path, 50, 6, None, None, |i| {
                assert!(i != 5, "block 5 cannot be made");
                Ok(block(i))
            })
        });
        let panic = outcome.unwrap_err();
        let message = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
        assert_eq!(message, Some("block 5 cannot be made"));
    }

    #[test]
    fn a_panic_while_workers_wait_their_turn_never_hangs() {
        // The writer stops the workers while some are about to wait for it
        // to catch up. The moment that hung is a few instructions wide (a
        // worker between finding `stop` unset and starting to wait): the
        // test above hung once in CI, on a loaded machine, and is not
        // made to on demand; this repeats the race with the panic at
        // varying moments. Run beside a deadline, so that a hang fails the
        // test rather than the whole run.
        const REPEATS: usize = 2000;
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv.gz");
            for repeat in 0..REPEATS {
                let outcome = std::panic::catch_unwind(|| {
                    write_blocks(&path, 64, 1, None, None, |i| {
                        if i == 0 {
                            // Fails after a moment that varies, for the
                            // others to be at every step of their turn.
                            let t = std::time::Instant::now();
                            while t.elapsed().as_nanos() < (repeat % 97) as u128 * 200 {}
                            panic!("block 0 cannot be made");
                        }
                        Ok(vec![b'x'; 64])
                    })
                });
                assert!(outcome.is_err());
            }
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("writing blocks hung after a block panicked");
    }

    #[test]
    fn a_block_that_fails_fails_the_file_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv.gz");
        let err = write_blocks(&path, 50, 6, None, None, |i| {
            if i == 3 {
                Err(ReportError::Write {
                    path: "block 3".into(),
                    source: std::io::Error::other("no more"),
                })
            } else {
                Ok(block(i))
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("block 3"), "{err}");
    }
}
