//! Running out of disk space. A full disk is not damage: the module keeps answering from what
//! is committed and retries the write once space returns.
//!
//! redb refuses every later call, reads of uncached pages included, after one I/O failure of its
//! file, so a write is refused *before* it starts when the disk has less than a reserve free
//! (`StoreOptions::reserve_bytes`). Should the disk fill up anyway (another program), the file is
//! reopened once space returns (see `handle`). [`FullDiskSwitch`] is the test double that makes
//! the store's writes fail as on a full disk, so both paths can be tested without filling a real
//! file system.

use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::ops::Bound;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Whether an I/O error means "no space" (ENOSPC, EDQUOT, EFBIG): transient, retried.
pub(crate) fn is_out_of_space(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}

/// Refuses a write when the disk holding `dir` has less than `reserve` bytes free.
pub(crate) fn preflight(
    dir: &Path,
    reserve: u64,
    switch: Option<&FullDiskSwitch>,
) -> Result<(), Error> {
    if switch.is_some_and(|switch| switch.full.load(Ordering::Acquire)) {
        return Err(Error::new(
            ErrorKind::StorageFull,
            format!(
                "{}: no free space left, {reserve} bytes are kept in reserve (full-disk test double)",
                dir.display()
            ),
        ));
    }
    if reserve == 0 {
        return Ok(());
    }
    // A disk that cannot tell its free space is not refused.
    let Ok(free) = fs4::available_space(dir) else {
        return Ok(());
    };
    if free < reserve {
        return Err(Error::new(
            ErrorKind::StorageFull,
            format!(
                "{}: only {free} bytes free, {reserve} are kept in reserve",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Writes and removes 1 MiB next to the store: whether there is room again to reopen a file.
pub(crate) fn probe(dir: &Path, switch: Option<&FullDiskSwitch>) -> Result<(), Error> {
    use std::io::Write;
    let path = dir.join(".space-probe");
    let written = (|| {
        if let Some(switch) = switch {
            switch.check(&path)?;
        }
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0u8; 1 << 20])?;
        file.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    written
}

/// Test double of a full disk. [`FullDiskSwitch::set_full`]: the disk reports no free space, so
/// writes are refused before they start. [`FullDiskSwitch::set_full_unseen`]: the free space
/// looks fine but every write, growth and sync of the store's files (`lists.redb`, `local.redb`,
/// segments) fails with `StorageFull`, as when another program fills the disk mid-write. Reads
/// keep working, as on a full disk. Off by default; production never sets it.
#[derive(Debug, Clone, Default)]
pub struct FullDiskSwitch {
    full: Arc<AtomicBool>,
    unseen: Arc<AtomicBool>,
}

impl FullDiskSwitch {
    /// A switch that is off.
    pub fn new() -> FullDiskSwitch {
        FullDiskSwitch::default()
    }

    /// The disk is full (or not), and its free space says so.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::Release);
    }

    /// Writes fail for lack of space (or not) while the free space looks sufficient.
    pub fn set_full_unseen(&self, full: bool) {
        self.unseen.store(full, Ordering::Release);
    }

    /// Fails like a full disk while either mode is on.
    pub(crate) fn check(&self, path: &Path) -> Result<(), Error> {
        if self.full.load(Ordering::Acquire) || self.unseen.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::StorageFull,
                format!(
                    "no space left on device writing {} (full-disk test double)",
                    path.display()
                ),
            ));
        }
        Ok(())
    }
}

/// A redb file whose writes go through a [`FullDiskSwitch`].
#[derive(Debug)]
pub(crate) struct SwitchedFile {
    pub(crate) inner: FileBackend,
    pub(crate) switch: FullDiskSwitch,
    pub(crate) path: std::path::PathBuf,
}

impl StorageBackend for SwitchedFile {
    fn len(&self) -> Result<u64, Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), Error> {
        // Shrinking frees space; only growing fails on a full disk.
        if len > self.inner.len()? {
            self.switch.check(&self.path)?;
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), Error> {
        self.switch.check(&self.path)?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.switch.check(&self.path)?;
        self.inner.write(offset, data)
    }
    // Locks are the file's own: a full disk does not affect them.
    fn close(&self) -> Result<(), Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
