//! The CDN state shared by every till process on the machine: one JSON file, changed under an
//! exclusive lock on a sibling `.lock` file and replaced by write + rename, so ten tills do not
//! each rediscover a dead host and no reader ever sees half a file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::cdn::CdnState;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("till state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Handle on the state file; cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedState {
    path: PathBuf,
    lock_path: PathBuf,
}

impl SharedState {
    /// Creates the parent directory if needed; the file itself appears on the first write.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        Ok(Self {
            path: path.to_owned(),
            lock_path: path.with_extension("lock"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current state (default when the file does not exist yet).
    pub fn read(&self) -> Result<CdnState, StateError> {
        let _lock = self.lock()?;
        Ok(self.load())
    }

    /// Read-modify-write under the lock; writes only when `change` changed something.
    pub fn update<R>(&self, change: impl FnOnce(&mut CdnState) -> R) -> Result<R, StateError> {
        let _lock = self.lock()?;
        let before = self.load();
        let mut state = before.clone();
        let result = change(&mut state);
        if state != before {
            self.store(&state)?;
        }
        Ok(result)
    }

    fn lock(&self) -> Result<File, StateError> {
        let io = |source| StateError::Io {
            path: self.lock_path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io)?;
        file.lock_exclusive().map_err(io)?;
        // Dropping the handle closes it, which releases the lock.
        Ok(file)
    }

    fn load(&self) -> CdnState {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                // Only a cache of the service's state: start afresh rather than stop selling.
                tracing::warn!(path = %self.path.display(), %err, "till state unreadable, starting afresh");
                CdnState::default()
            }),
            Err(_) => CdnState::default(),
        }
    }

    fn store(&self, state: &CdnState) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io(e.into()))?;
        // No fsync: this is a cache on the check path. The rename keeps readers from seeing half
        // a file; after a power loss a damaged file is replaced by a fresh state.
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_persists_and_is_seen_by_another_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/state.json");
        let one = SharedState::open(&path).expect("opens");
        let two = SharedState::open(&path).expect("opens");
        assert_eq!(two.read().expect("reads"), CdnState::default());
        one.update(|s| s.ensure_hosts(&["https://a".into()]))
            .expect("updates");
        assert_eq!(two.read().expect("reads").hosts[0].url, "https://a");
    }

    #[test]
    fn concurrent_updates_from_threads_are_not_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        SharedState::open(&path)
            .expect("opens")
            .update(|s| s.ensure_hosts(&["https://a".into()]))
            .expect("updates");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let state = SharedState::open(&path).expect("opens");
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        state.update(|s| s.hosts[0].misses += 1).expect("updates");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let state = SharedState::open(&path)
            .expect("opens")
            .read()
            .expect("reads");
        assert_eq!(state.hosts[0].misses, 80);
    }

    #[test]
    fn a_damaged_file_is_replaced_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        fs::write(&path, b"{not json").expect("writes");
        let state = SharedState::open(&path).expect("opens");
        assert_eq!(state.read().expect("reads"), CdnState::default());
        state.update(|s| s.enter_emergency(1)).expect("updates");
        assert!(state.read().expect("reads").emergency.is_some());
    }
}
