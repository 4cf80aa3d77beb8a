//! One run at a time per warehouse.
//!
//! The lock is an object beside the tables, `_peerbench.lock`, naming its
//! holder (run id, host, pid, when it started, its last heartbeat), so a run
//! that finds it held can say who holds it.
//!
//! - In a folder, the lock file is held with an exclusive operating-system
//!   lock (`flock`), which the kernel drops when its process ends however it
//!   ends: a run killed with SIGKILL cannot leave a lock behind. A file
//!   still naming a holder that no longer holds it is reported as taken over.
//!   The file is never deleted (deleting a file others may have open would
//!   let two runs each lock a different copy); a clean release empties it.
//! - In an object store, the lock is created with a conditional put (it
//!   fails if the object exists) and refreshed every [`HEARTBEAT`]. A lock is
//!   stale when its holder ran on this host and that process has gone, or,
//!   from another host, when its heartbeat is older than the stale limit;
//!   a stale lock is replaced by a conditional update on the version that
//!   was read, so of two runs taking it over only one succeeds.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::{Backend, Warehouse, WarehouseError};

/// The lock object's name, beside the tables.
pub const LOCK_NAME: &str = "_peerbench.lock";

/// How often a run refreshes its lock in an object store.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    /// When the process started, as the kernel counts it (clock ticks since
    /// boot): with the pid, tells a live holder from a reused pid.
    #[serde(default)]
    pub process_start: Option<u64>,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339; refreshed every [`HEARTBEAT`] in an object store.
    pub heartbeat: String,
    /// What the holder is doing (`run`, `ingest`).
    pub command: String,
}

impl Holder {
    pub fn new(run_id: &str, command: &str) -> Holder {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Holder {
            run_id: run_id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            process_start: process_start(std::process::id()),
            started: now.clone(),
            heartbeat: now,
            command: command.to_string(),
        }
    }

    /// "run 3f2a… (peerbench run, pid 4242 on host nightly-1, started …)".
    pub fn describe(&self) -> String {
        let beat = if self.heartbeat == self.started {
            String::new()
        } else {
            format!(", last heartbeat {}", self.heartbeat)
        };
        format!(
            "run {} (peerbench {}, pid {} on host {}, started {}{beat})",
            self.run_id, self.command, self.pid, self.host, self.started
        )
    }

    /// Whether the holder's process is known to have gone: it ran on this
    /// host and no process with its pid (and start time) exists.
    fn gone_from_this_host(&self) -> bool {
        self.host == host_name()
            && match (process_start(self.pid), self.process_start) {
                (None, _) => true,
                (Some(now), Some(then)) => now != then,
                (Some(_), None) => false,
            }
    }

    fn heartbeat_age(&self) -> Option<Duration> {
        let beat = chrono::DateTime::parse_from_rfc3339(&self.heartbeat).ok()?;
        (chrono::Utc::now() - beat.with_timezone(&chrono::Utc))
            .to_std()
            .ok()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// A process's start time (field 22 of /proc/<pid>/stat), None when there
/// is no such process (or no /proc).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another peerbench run holds the warehouse lock at {location}: {}; {}",
        holder.describe(),
        match stale_after {
            None => "wait for it to finish (the operating system releases a folder's lock when its process ends, however it ends)".to_string(),
            Some(limit) => format!("wait for it to finish (if that process has gone, its lock is taken over once it has sent no heartbeat for {} s: lock_stale_after)", limit.as_secs()),
        }
    )]
    Held {
        location: String,
        holder: Box<Holder>,
        /// None for a folder's lock, which cannot go stale.
        stale_after: Option<Duration>,
    },
    #[error(
        "the warehouse lock at {location} is held by a live process but cannot be read ({reason}); find the process holding it (e.g. `fuser {location}`) before removing anything"
    )]
    HeldUnreadable { location: String, reason: String },
    #[error(
        "the warehouse lock at {location} cannot be read ({reason}) and is not stale yet; if no run is in progress, delete it and run again"
    )]
    Corrupt { location: String, reason: String },
    #[error("cannot take the warehouse lock at {location}: {reason}")]
    Io { location: String, reason: String },
}

/// A held lock. Dropping it releases the lock.
pub struct RunLock {
    location: String,
    inner: Inner,
    lost: Arc<AtomicBool>,
}

enum Inner {
    /// The open, flock-ed file.
    Local(std::fs::File),
    Remote {
        store: Arc<dyn ObjectStore>,
        path: StorePath,
        holder: Holder,
        heartbeat: tokio::task::JoinHandle<()>,
    },
}

impl RunLock {
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether another run has since taken the lock over (an object-store
    /// lock whose heartbeat stalled past the stale limit): a run that lost
    /// its lock must not publish.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Releases the lock (also done on drop; this waits for the store).
    pub async fn release(mut self) {
        if let Inner::Remote {
            store,
            path,
            holder,
            heartbeat,
        } = &mut self.inner
        {
            heartbeat.abort();
            // Only a lock that still names this run is removed.
            if let Ok(Some((current, _))) = read_remote(store.as_ref(), path).await
                && current.ok().is_some_and(|h| h.run_id == holder.run_id)
            {
                let _ = store.delete(path).await;
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        match &mut self.inner {
            Inner::Local(file) => {
                // Empty means "released cleanly"; the kernel drops the flock
                // when the file closes.
                let _ = file.set_len(0);
            }
            Inner::Remote { heartbeat, .. } => heartbeat.abort(),
        }
    }
}

/// What a lock said about its earlier holder, when one is taken over.
#[derive(Debug, Clone)]
pub struct TakenOver {
    /// The earlier holder, if its lock could be read.
    pub holder: Option<Holder>,
    pub why: String,
}

async fn read_remote(
    store: &dyn ObjectStore,
    path: &StorePath,
) -> Result<Option<(Result<Holder, String>, UpdateVersion)>, object_store::Error> {
    match store.get(path).await {
        Ok(r) => {
            let version = UpdateVersion {
                e_tag: r.meta.e_tag.clone(),
                version: r.meta.version.clone(),
            };
            let bytes = r.bytes().await?;
            Ok(Some((
                serde_json::from_slice::<Holder>(&bytes).map_err(|e| e.to_string()),
                version,
            )))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Warehouse {
    /// Takes the warehouse's run lock for `holder`, or says who holds it.
    /// `stale_after` is how long an object-store lock may go without a
    /// heartbeat before another host may take it over. Returns the lock and,
    /// when an abandoned lock was taken over, what it said.
    pub async fn lock(
        &self,
        holder: Holder,
        stale_after: Duration,
    ) -> Result<(RunLock, Option<TakenOver>), WarehouseError> {
        match &self.backend {
            Backend::Local(root) => lock_local(root.join(LOCK_NAME), holder),
            Backend::Remote { store, prefix } => {
                let path = prefix.clone().join(LOCK_NAME);
                let location = format!("{}{LOCK_NAME}", self.root);
                lock_remote(store.clone(), path, location, holder, stale_after).await
            }
        }
        .map_err(WarehouseError::Lock)
    }
}

fn lock_local(path: PathBuf, holder: Holder) -> Result<(RunLock, Option<TakenOver>), LockError> {
    let location = path.display().to_string();
    let io = |e: std::io::Error| LockError::Io {
        location: location.clone(),
        reason: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let mut before = String::new();
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            // The holder writes its details just after taking the lock: a
            // run that arrives in between finds the file empty, so read
            // again for a moment before calling it unreadable.
            for _ in 0..40 {
                before.clear();
                file.rewind().map_err(io)?;
                file.read_to_string(&mut before).map_err(io)?;
                if serde_json::from_str::<Holder>(&before).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            return Err(match serde_json::from_str::<Holder>(&before) {
                Ok(holder) => LockError::Held {
                    location,
                    holder: Box::new(holder),
                    stale_after: None,
                },
                Err(e) => LockError::HeldUnreadable {
                    location,
                    reason: if before.is_empty() {
                        "it is empty".into()
                    } else {
                        e.to_string()
                    },
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.read_to_string(&mut before).map_err(io)?;
    // Not empty: its holder ended without releasing it (killed, or the
    // machine stopped); the kernel has already let go of its flock.
    let taken_over =
        (!before.trim().is_empty()).then(|| match serde_json::from_str::<Holder>(&before) {
            Ok(h) => TakenOver {
                why: format!("{} ended without releasing the lock", h.describe()),
                holder: Some(h),
            },
            Err(e) => TakenOver {
                holder: None,
                why: format!("the lock file held unreadable text ({e}) and no process held it"),
            },
        });
    let text = serde_json::to_string_pretty(&holder).expect("a holder serialises");
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((
        RunLock {
            location,
            inner: Inner::Local(file),
            lost: Arc::new(AtomicBool::new(false)),
        },
        taken_over,
    ))
}

async fn lock_remote(
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    location: String,
    mut holder: Holder,
    stale_after: Duration,
) -> Result<(RunLock, Option<TakenOver>), LockError> {
    let io = |e: object_store::Error| LockError::Io {
        location: location.clone(),
        reason: e.to_string(),
    };
    let body = |h: &Holder| serde_json::to_vec_pretty(h).expect("a holder serialises");
    let mut taken_over = None;
    let created = store
        .put_opts(
            &path,
            body(&holder).into(),
            PutOptions::from(PutMode::Create),
        )
        .await;
    let version = match created {
        Ok(put) => UpdateVersion {
            e_tag: put.e_tag,
            version: put.version,
        },
        Err(object_store::Error::AlreadyExists { .. }) => {
            let Some((current, version)) = read_remote(store.as_ref(), &path).await.map_err(io)?
            else {
                // Released between our put and our read: try once more.
                return Box::pin(lock_remote(store, path, location, holder, stale_after)).await;
            };
            let why = match &current {
                Ok(h) if h.gone_from_this_host() => {
                    format!("{} is no longer running on this host", h.describe())
                }
                Ok(h) if h.heartbeat_age().is_some_and(|age| age > stale_after) => format!(
                    "{} sent no heartbeat for more than {} s",
                    h.describe(),
                    stale_after.as_secs()
                ),
                Ok(h) => {
                    return Err(LockError::Held {
                        location,
                        holder: Box::new(h.clone()),
                        stale_after: Some(stale_after),
                    });
                }
                Err(reason) => {
                    return Err(LockError::Corrupt {
                        location,
                        reason: reason.clone(),
                    });
                }
            };
            // Replace exactly the version read: of two runs taking over the
            // same stale lock, one succeeds and the other finds it held.
            holder.heartbeat =
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            match store
                .put_opts(
                    &path,
                    body(&holder).into(),
                    PutOptions::from(PutMode::Update(version)),
                )
                .await
            {
                Ok(put) => {
                    taken_over = Some(TakenOver {
                        holder: current.ok(),
                        why,
                    });
                    UpdateVersion {
                        e_tag: put.e_tag,
                        version: put.version,
                    }
                }
                Err(object_store::Error::Precondition { .. }) => {
                    let holder = match read_remote(store.as_ref(), &path).await.map_err(io)? {
                        Some((Ok(h), _)) => h,
                        _ => holder,
                    };
                    return Err(LockError::Held {
                        location,
                        holder: Box::new(holder),
                        stale_after: Some(stale_after),
                    });
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(e) => return Err(io(e)),
    };
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        store.clone(),
        path.clone(),
        holder.clone(),
        version,
        lost.clone(),
    ));
    Ok((
        RunLock {
            location,
            inner: Inner::Remote {
                store,
                path,
                holder,
                heartbeat,
            },
            lost,
        },
        taken_over,
    ))
}

/// Refreshes the lock's heartbeat, each time replacing exactly the version
/// this run wrote: if another run has taken the lock over, the update fails
/// and this run learns it has lost the lock.
async fn heartbeat(
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    mut holder: Holder,
    mut version: UpdateVersion,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        holder.heartbeat = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = serde_json::to_vec_pretty(&holder).expect("a holder serialises");
        match store
            .put_opts(
                &path,
                body.into(),
                PutOptions::from(PutMode::Update(version.clone())),
            )
            .await
        {
            Ok(put) => {
                version = UpdateVersion {
                    e_tag: put.e_tag,
                    version: put.version,
                }
            }
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::NotFound { .. }) => {
                tracing::error!(
                    run_id = holder.run_id,
                    "another run has taken over the warehouse lock; this run will not publish"
                );
                lost.store(true, Ordering::Release);
                return;
            }
            // A passing store error: try again at the next beat.
            Err(e) => tracing::warn!("could not refresh the warehouse lock: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_told_who_holds_the_lock_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_NAME);
        let (first, taken) = lock_local(path.clone(), Holder::new("run-a", "run")).unwrap();
        assert!(taken.is_none());
        let Err(LockError::Held { holder, .. }) =
            lock_local(path.clone(), Holder::new("run-b", "run"))
        else {
            panic!("the lock must be held");
        };
        assert_eq!(holder.run_id, "run-a");
        drop(first);
        let (_second, taken) = lock_local(path, Holder::new("run-c", "run")).unwrap();
        assert!(
            taken.is_none(),
            "a cleanly released lock is not 'taken over'"
        );
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over_and_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_NAME);
        let mut dead = Holder::new("run-dead", "run");
        dead.pid = u32::MAX - 1;
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let (_lock, taken) = lock_local(path.clone(), Holder::new("run-new", "run")).unwrap();
        let taken = taken.expect("taken over");
        assert_eq!(taken.holder.unwrap().run_id, "run-dead");
        // A hand-edited, unreadable lock that nobody holds is taken over too.
        drop(_lock);
        std::fs::write(&path, "{ not json").unwrap();
        let (_lock, taken) = lock_local(path, Holder::new("run-next", "run")).unwrap();
        assert!(taken.unwrap().why.contains("unreadable"));
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_pid_is_not() {
        let me = Holder::new("r", "run");
        assert!(!me.gone_from_this_host());
        let mut other = me.clone();
        other.pid = u32::MAX - 1;
        assert!(other.gone_from_this_host());
        let mut elsewhere = other.clone();
        elsewhere.host = "another-host".into();
        assert!(!elsewhere.gone_from_this_host());
    }
}
