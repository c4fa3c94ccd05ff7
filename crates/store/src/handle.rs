//! One redb file behind a handle that (a) opens with a full integrity check and tells damage apart
//! from other failures, (b) refuses further writes after an I/O failure (poisoned) instead of
//! writing half, and (c) treats a full disk as transient: the failed transaction wrote nothing,
//! and since redb refuses every later call after an I/O failure of its file, the handle reopens
//! the file (redb recovers it at open) before its next use.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use redb::backends::FileBackend;
use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, StorageError, WriteTransaction,
};

use crate::disk::{self, FullDiskSwitch, SwitchedFile};
use crate::error::{StoreError, is_io};

/// Why a file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// The file is not a sound redb database (checksums, header, format).
    Damaged(String),
    /// Anything else: locked by another process, permissions, disk. Never a reason to quarantine.
    Other(StoreError),
}

/// How to open (and reopen) one redb file.
#[derive(Debug, Clone)]
pub(crate) struct Opener {
    pub(crate) path: PathBuf,
    pub(crate) file: &'static str,
    pub(crate) cache_bytes: usize,
    /// Free space below which writes are refused before they start.
    pub(crate) reserve_bytes: u64,
    /// Test double of a full disk, if one is installed.
    pub(crate) full_disk: Option<FullDiskSwitch>,
}

impl Opener {
    /// Opens (or creates) the file, verifying every page's checksum so damage is an error, not a
    /// panic.
    pub(crate) fn open(&self) -> Result<Database, OpenFailure> {
        let mut builder = Database::builder();
        builder
            .set_cache_size(self.cache_bytes)
            .set_check_integrity_on_open(true);
        // redb promises an error rather than a panic with the check on; a panic on a damaged
        // file is still treated as damage, so a bad file can never take the module down at start.
        let opened = catch_unwind(AssertUnwindSafe(|| match &self.full_disk {
            None => builder.create(&self.path),
            Some(switch) => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&self.path)?;
                builder.create_with_backend(SwitchedFile {
                    inner: FileBackend::new(file)?,
                    switch: switch.clone(),
                    path: self.path.clone(),
                })
            }
        }));
        match opened {
            Err(_) => Err(OpenFailure::Damaged(
                "the database panicked while opening".into(),
            )),
            Ok(Ok(db)) => Ok(db),
            Ok(Err(err)) => Err(classify(err, &self.path, self.file)),
        }
    }
}

fn classify(err: DatabaseError, path: &Path, file: &'static str) -> OpenFailure {
    match err {
        DatabaseError::DatabaseAlreadyOpen => {
            OpenFailure::Other(StoreError::AlreadyOpen(path.to_path_buf()))
        }
        DatabaseError::Storage(StorageError::Corrupted(reason)) => OpenFailure::Damaged(reason),
        DatabaseError::UpgradeRequired(version) => {
            OpenFailure::Damaged(format!("unsupported file format version {version}"))
        }
        // redb reports a file that is not one of its databases as invalid data.
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            OpenFailure::Damaged(io.to_string())
        }
        DatabaseError::RepairAborted => OpenFailure::Damaged("repair aborted".into()),
        other => OpenFailure::Other(StoreError::Database {
            file,
            source: other.into(),
        }),
    }
}

/// A database file with write poisoning.
#[derive(Debug)]
pub(crate) struct Handle {
    /// `None` only while it is being reopened after a full disk.
    db: RwLock<Option<Database>>,
    /// How to reopen the file; `None` for a database on a backend of a test.
    opener: Option<Opener>,
    file: &'static str,
    poisoned: AtomicBool,
    /// The I/O failure that poisoned the handle.
    reason: Mutex<Option<String>>,
    /// A write of redb's own file failed for lack of space: reopen before the next use.
    stale: AtomicBool,
}

impl Handle {
    pub(crate) fn new(db: Database, file: &'static str) -> Handle {
        Handle {
            db: RwLock::new(Some(db)),
            opener: None,
            file,
            poisoned: AtomicBool::new(false),
            reason: Mutex::new(None),
            stale: AtomicBool::new(false),
        }
    }

    /// A handle that can reopen its file after a full disk.
    pub(crate) fn reopenable(db: Database, opener: Opener) -> Handle {
        Handle {
            opener: Some(opener.clone()),
            ..Handle::new(db, opener.file)
        }
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The failure that poisoned the handle, if it is.
    pub(crate) fn poison_reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Runs `body` in one write transaction and commits it. An error inside `body` aborts the
    /// transaction (nothing of it is written); an I/O error anywhere poisons the handle, except a
    /// full disk, which is reported and may be retried.
    pub(crate) fn write<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned(self.file));
        }
        if let Some(opener) = &self.opener {
            let dir = opener.path.parent().unwrap_or(Path::new("."));
            disk::preflight(dir, opener.reserve_bytes, opener.full_disk.as_ref()).map_err(
                |source| StoreError::Io {
                    path: opener.path.clone(),
                    source,
                },
            )?;
        }
        self.recover()?;
        let result = self.write_unchecked(body);
        if let Err(err) = &result {
            if err.is_out_of_space() {
                if matches!(err, StoreError::Database { .. }) {
                    self.stale.store(true, Ordering::Release);
                }
            } else if self.is_io_failure(err) {
                self.poison(err.to_string());
            }
        }
        result
    }

    fn poison(&self, reason: String) {
        *self
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
        self.poisoned.store(true, Ordering::Release);
    }

    /// After a full disk, once the preflight saw space again: closes the file and opens it
    /// again, which lets redb recover the transaction that failed. Until then reads go to the
    /// old database (what it has cached still answers); writes report the file unavailable (not
    /// fatal); damage found at reopen poisons the handle (quarantined at the next start).
    fn recover(&self) -> Result<(), StoreError> {
        if !self.stale.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(opener) = &self.opener else {
            return Err(StoreError::Unavailable(self.file));
        };
        let mut db = self
            .db
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !self.stale.load(Ordering::Acquire) {
            return Ok(());
        }
        // The old database keeps serving reads until there is room to reopen.
        let dir = opener.path.parent().unwrap_or(Path::new("."));
        if disk::probe(dir, opener.full_disk.as_ref()).is_err() {
            return Err(StoreError::Unavailable(self.file));
        }
        // The old database must be closed before the file is opened again.
        drop(db.take());
        match opener.open() {
            Ok(reopened) => {
                *db = Some(reopened);
                self.stale.store(false, Ordering::Release);
                Ok(())
            }
            Err(OpenFailure::Damaged(reason)) => {
                self.poison(format!("damaged after a full disk: {reason}"));
                Err(StoreError::Poisoned(self.file))
            }
            // Still no space, or another holder of the file: stay stale, try again next time.
            Err(OpenFailure::Other(_)) => Err(StoreError::Unavailable(self.file)),
        }
    }

    fn write_unchecked<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = {
            let db = self
                .db
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let db = db.as_ref().ok_or(StoreError::Unavailable(self.file))?;
            db.begin_write().map_err(|err| self.error(err))?
        };
        let value = body(&txn)?;
        txn.commit().map_err(|err| self.error(err))?;
        Ok(value)
    }

    fn is_io_failure(&self, err: &StoreError) -> bool {
        matches!(err, StoreError::Io { .. })
            || matches!(err, StoreError::Database { source, .. } if is_io(source))
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        let db = self
            .db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let db = db.as_ref().ok_or(StoreError::Unavailable(self.file))?;
        db.begin_read().map_err(|err| self.error(err))
    }

    pub(crate) fn error(&self, err: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            file: self.file,
            source: err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;

    use super::*;
    use crate::key::KiFingerprint;
    use crate::lists::{Batch, ListChange, ListDb, ListStore};

    /// Test double: an in-memory file whose writes start failing when told to, like a full or
    /// dying disk.
    #[derive(Debug)]
    struct FailingDisk {
        inner: InMemoryBackend,
        failing: Arc<AtomicBool>,
    }

    impl FailingDisk {
        fn check(&self) -> Result<(), std::io::Error> {
            if self.failing.load(Ordering::Acquire) {
                return Err(std::io::Error::other("disk failed (test double)"));
            }
            Ok(())
        }
    }

    impl StorageBackend for FailingDisk {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.check()?;
            self.inner.write(offset, data)
        }
    }

    fn batch(n: u32) -> Batch {
        Batch {
            db: ListDb::BlockedCis,
            changes: vec![ListChange::BlockKi(KiFingerprint::of(&format!("ki{n}")))],
            checkpoint: n.to_string(),
            caught_up: false,
            unmapped: 0,
        }
    }

    #[test]
    fn an_io_failure_poisons_the_handle_and_later_writes_are_refused() {
        let failing = Arc::new(AtomicBool::new(false));
        let disk = FailingDisk {
            inner: InMemoryBackend::new(),
            failing: failing.clone(),
        };
        let db = Database::builder().create_with_backend(disk).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lists = ListStore::open(Handle::new(db, "lists.redb"), dir.path(), None)
            .unwrap()
            .unwrap();
        lists.apply(&batch(1)).unwrap();

        failing.store(true, Ordering::Release);
        let err = lists.apply(&batch(2)).unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(lists.is_poisoned());
        let reason = lists.poison_reason().unwrap();
        assert!(reason.contains("disk failed (test double)"), "{reason}");

        // The disk recovers, but the handle still refuses: a restart (and the integrity check)
        // must come first.
        failing.store(false, Ordering::Release);
        let err = lists.apply(&batch(3)).unwrap_err();
        assert!(matches!(err, StoreError::Poisoned("lists.redb")), "{err}");
        assert_eq!(
            lists
                .db_state(ListDb::BlockedCis)
                .unwrap()
                .checkpoint
                .as_deref(),
            Some("1")
        );
    }
}
