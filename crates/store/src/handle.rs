//! One redb file behind a handle that (a) opens with a full integrity check and tells damage apart
//! from other failures, and (b) refuses further writes after an I/O failure (poisoned) instead of
//! writing half.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, StorageError, WriteTransaction,
};

use crate::error::{StoreError, is_io};

/// Why a file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// The file is not a sound redb database (checksums, header, format).
    Damaged(String),
    /// Anything else: locked by another process, permissions, disk. Never a reason to quarantine.
    Other(StoreError),
}

/// Opens (or creates) `path`, verifying every page's checksum so damage is an error, not a panic.
pub(crate) fn open_checked(
    path: &Path,
    file: &'static str,
    cache_bytes: usize,
) -> Result<Database, OpenFailure> {
    let mut builder = Database::builder();
    builder
        .set_cache_size(cache_bytes)
        .set_check_integrity_on_open(true);
    // redb promises an error rather than a panic with the check on; a panic on a damaged file is
    // still treated as damage, so a bad file can never take the module down at start.
    let opened = catch_unwind(AssertUnwindSafe(|| builder.create(path)));
    match opened {
        Err(_) => Err(OpenFailure::Damaged(
            "the database panicked while opening".into(),
        )),
        Ok(Ok(db)) => Ok(db),
        Ok(Err(err)) => Err(classify(err, path, file)),
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
    db: Database,
    file: &'static str,
    poisoned: AtomicBool,
    /// The I/O failure that poisoned the handle.
    reason: Mutex<Option<String>>,
}

impl Handle {
    pub(crate) fn new(db: Database, file: &'static str) -> Handle {
        Handle {
            db,
            file,
            poisoned: AtomicBool::new(false),
            reason: Mutex::new(None),
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
    /// transaction (nothing of it is written); an I/O error anywhere poisons the handle.
    pub(crate) fn write<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned(self.file));
        }
        let result = self.write_unchecked(body);
        if let Err(err) = &result
            && self.is_io_failure(err)
        {
            *self
                .reason
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(err.to_string());
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    fn write_unchecked<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write().map_err(|err| self.error(err))?;
        let value = body(&txn)?;
        txn.commit().map_err(|err| self.error(err))?;
        Ok(value)
    }

    fn is_io_failure(&self, err: &StoreError) -> bool {
        matches!(err, StoreError::Io { .. })
            || matches!(err, StoreError::Database { source, .. } if is_io(source))
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(|err| self.error(err))
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
        let lists = ListStore::open(Handle::new(db, "lists.redb"), dir.path())
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
