//! The CDN state shared by every till process on the machine: one JSON file, changed under an
//! exclusive lock on a sibling `.lock` file and replaced by write + rename, so ten tills do not
//! each rediscover a dead host and no reader ever sees half a file.
//!
//! The check path never waits for the disk. Within a process the in-memory view is
//! authoritative: a change is applied to it at once and remembered as a pending operation; a
//! background flush (one at a time, so bursts coalesce into one write) replays the pending
//! operations on the file's current content under the lock and writes once. The view is reloaded
//! only when the file's identity (inode, size, mtime) shows another process wrote it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use fs4::fs_std::FileExt;

use crate::cdn::CdnState;

/// Changes within this long of each other go to the file in one write.
pub const COALESCE: std::time::Duration = std::time::Duration::from_millis(10);
/// Pending operations kept at most while the file cannot be written; older ones are dropped
/// (the in-memory view still has them).
const MAX_PENDING: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("till state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

type Operation = Box<dyn FnMut(&mut CdnState) + Send>;

/// What identifies one version of the file: a write replaces the file (new inode) and changes
/// its mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            inode,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

struct Memory {
    view: CdnState,
    /// The file version the view rests on; `None`: no file.
    stamp: Option<Stamp>,
    pending: Vec<Operation>,
    flush_scheduled: bool,
    writes: u64,
}

struct Shared {
    path: PathBuf,
    lock_path: PathBuf,
    memory: Mutex<Memory>,
    /// One flush at a time within the process.
    flushing: Mutex<()>,
}

/// Handle on the state file; cheap to clone, clones share the in-memory view.
#[derive(Clone)]
pub struct SharedState {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl SharedState {
    /// Creates the parent directory if needed and reads the file when it exists; the file
    /// itself appears on the first write.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let shared = Shared {
            path: path.to_owned(),
            lock_path: path.with_extension("lock"),
            memory: Mutex::new(Memory {
                view: CdnState::default(),
                stamp: None,
                pending: Vec::new(),
                flush_scheduled: false,
                writes: 0,
            }),
            flushing: Mutex::new(()),
        };
        let (view, stamp) = shared.load();
        {
            let mut memory = shared.memory();
            memory.view = view;
            memory.stamp = stamp;
        }
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The current state: this process's view, reloaded first if another process wrote.
    pub fn read(&self) -> CdnState {
        let mut memory = self.shared.memory();
        self.shared.reload_if_changed(&mut memory);
        memory.view.clone()
    }

    /// Changes the state. The change is applied to the in-memory view at once and, when it
    /// changed something, written to the file in the background (merged with what other
    /// processes wrote meanwhile: the change is replayed on the file's content). `change` may
    /// therefore run more than once and must depend only on the state and what it captured.
    pub fn update<R>(&self, mut change: impl FnMut(&mut CdnState) -> R + Send + 'static) -> R {
        let mut memory = self.shared.memory();
        self.shared.reload_if_changed(&mut memory);
        let before = memory.view.clone();
        let result = change(&mut memory.view);
        if memory.view != before {
            if memory.pending.len() >= MAX_PENDING {
                drop(memory.pending.remove(0));
            }
            memory.pending.push(Box::new(move |s| {
                change(s);
            }));
            if !memory.flush_scheduled {
                memory.flush_scheduled = true;
                drop(memory);
                self.schedule_flush();
            }
        }
        result
    }

    /// Read-modify-write on the file itself, under the lock, now (pending changes first). For
    /// what must be decided across processes, such as who refreshes the CDN list. Blocking.
    pub fn update_now<R>(
        &self,
        mut change: impl FnMut(&mut CdnState) -> R,
    ) -> Result<R, StateError> {
        let mut result = None;
        self.shared.flush(Some(&mut |s: &mut CdnState| {
            result = Some(change(s));
        }))?;
        // On success `flush` ran the extra change exactly once; the fallback is never taken.
        Ok(result.unwrap_or_else(|| change(&mut self.read())))
    }

    /// Writes pending changes now (blocking). Waits for a background flush in progress.
    pub fn flush(&self) -> Result<(), StateError> {
        self.shared.flush(None)
    }

    /// How many times this process wrote the file (for tests and benchmarks).
    pub fn writes(&self) -> u64 {
        self.shared.memory().writes
    }

    fn schedule_flush(&self) {
        let shared = Arc::clone(&self.shared);
        let work = move || {
            if let Err(err) = shared.flush(None) {
                tracing::error!(%err, "till state file unusable; this process keeps its own view");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(COALESCE).await;
                    let _ = tokio::task::spawn_blocking(work).await;
                });
            }
            Err(_) => work(),
        }
    }
}

impl Shared {
    fn memory(&self) -> MutexGuard<'_, Memory> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current_stamp(&self) -> Option<Stamp> {
        fs::metadata(&self.path).ok().map(|m| Stamp::of(&m))
    }

    /// Another process wrote: take its state and replay our pending changes on it.
    fn reload_if_changed(&self, memory: &mut Memory) {
        let stamp = self.current_stamp();
        if stamp == memory.stamp || stamp.is_none() {
            return;
        }
        let (view, stamp) = self.load();
        memory.view = view;
        memory.stamp = stamp;
        for op in &mut memory.pending {
            op(&mut memory.view);
        }
    }

    /// Writes the pending changes (and `extra`, applied last) to the file under the lock.
    fn flush(&self, extra: Option<&mut dyn FnMut(&mut CdnState)>) -> Result<(), StateError> {
        let _serial = self
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batch = {
            let mut memory = self.memory();
            memory.flush_scheduled = false;
            std::mem::take(&mut memory.pending)
        };
        if batch.is_empty() && extra.is_none() {
            return Ok(());
        }
        let written = self.write_through(&mut batch, extra);
        let mut memory = self.memory();
        match written {
            Ok((state, stamp, wrote)) => {
                let Memory {
                    view,
                    pending,
                    stamp: current,
                    writes,
                    ..
                } = &mut *memory;
                *view = state;
                for op in pending.iter_mut() {
                    op(view);
                }
                *current = stamp;
                *writes += u64::from(wrote);
                Ok(())
            }
            Err(err) => {
                // Keep the batch, in order, for the next attempt.
                batch.append(&mut memory.pending);
                memory.pending = batch;
                Err(err)
            }
        }
    }

    fn write_through(
        &self,
        batch: &mut [Operation],
        extra: Option<&mut dyn FnMut(&mut CdnState)>,
    ) -> Result<(CdnState, Option<Stamp>, bool), StateError> {
        let _lock = self.lock()?;
        let (mut state, stamp) = self.load();
        let before = state.clone();
        for op in batch.iter_mut() {
            op(&mut state);
        }
        if let Some(extra) = extra {
            extra(&mut state);
        }
        if state == before {
            return Ok((state, stamp, false));
        }
        self.store(&state)?;
        Ok((state, self.current_stamp(), true))
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StateError {
        StateError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn lock(&self) -> Result<File, StateError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.io(&self.lock_path, e))?;
        file.lock_exclusive()
            .map_err(|e| self.io(&self.lock_path, e))?;
        // Dropping the handle closes it, which releases the lock.
        Ok(file)
    }

    /// The file's state and the version read (stamp of the opened file, so they match).
    fn load(&self) -> (CdnState, Option<Stamp>) {
        let Ok(mut file) = File::open(&self.path) else {
            return (CdnState::default(), None);
        };
        let stamp = file.metadata().ok().map(|m| Stamp::of(&m));
        let mut bytes = Vec::new();
        if let Err(err) = file.read_to_end(&mut bytes) {
            tracing::warn!(path = %self.path.display(), %err, "till state unreadable, starting afresh");
            return (CdnState::default(), stamp);
        }
        let state = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            // Only a cache of the service's state: start afresh rather than stop selling.
            tracing::warn!(path = %self.path.display(), %err, "till state unreadable, starting afresh");
            CdnState::default()
        });
        (state, stamp)
    }

    fn store(&self, state: &CdnState) -> Result<(), StateError> {
        let io = |source| self.io(&self.path, source);
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io(e.into()))?;
        // No fsync: this is a cache. The rename keeps readers from seeing half a file; after a
        // power loss a damaged file is replaced by a fresh state.
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        fs::rename(&tmp, &self.path).map_err(io)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.memory().pending.is_empty()
            && let Err(err) = self.flush(None)
        {
            tracing::error!(%err, "till state changes lost at exit");
        }
    }
}

#[cfg(test)]
#[path = "shared_state_tests.rs"]
mod tests;
