//! The local module's embedded store (redb). Two files in one directory:
//!
//! * `lists.redb` and `blocked_cis.segments/` — the replicated lists and their checkpoints
//!   ([`ListStore`]); `blocked_cis` is kept as sorted fingerprint segment files whose manifest is
//!   in `lists.redb`. They can always be rebuilt by a full re-sync, so damage to either (a redb
//!   checksum, a segment's checksum, a missing segment) quarantines both (renamed aside, never
//!   deleted) and a fresh, empty pair is created;
//! * `local.redb` — the sold DB and the module's identity ([`LocalStore`]): local-only data, never
//!   dropped with the lists; a damaged one stops the module with a clear error.
//!
//! A replicated batch commits together with its checkpoint; after an I/O failure a handle refuses
//! further writes (poisoned). Knows nothing of HTTP or JSON.

mod disk;
mod error;
mod handle;
mod key;
mod ki_set;
mod lists;
mod local;
mod lookup;
mod meta;
mod segment;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use disk::FullDiskSwitch;
pub use error::StoreError;
pub use key::{Gtin, GtinError, KiFingerprint};
pub use lists::{Batch, DbState, ListChange, ListDb, ListStore, MinPrice, SyncTimes};
pub use local::{Identity, LocalStore, SOLD_RETENTION_MS};
pub use lookup::{ListLookup, ListSnapshot};

/// The directory (inside the store's) that holds the `blocked_cis` segment files.
pub const SEGMENTS_DIR: &str = ki_set::DIR;

use handle::{Handle, OpenFailure, Opener};

/// Tuning of [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Page cache of the lists file, bytes (the module's RSS budget is small).
    pub cache_bytes: usize,
    /// Writes are refused (retried later) while the disk has less than this many bytes free,
    /// so a full disk never fails a write half-way (module default 64 MiB; 0: no reserve).
    pub reserve_bytes: u64,
    /// Test double: a switch that makes every write of the store fail as on a full disk.
    pub full_disk: Option<FullDiskSwitch>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 16 * 1024 * 1024,
            reserve_bytes: 64 * 1024 * 1024,
            full_disk: None,
        }
    }
}

/// What happened at open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// A damaged lists file was moved here and an empty one created: a full re-sync is needed.
    pub quarantined: Option<PathBuf>,
    /// Why the lists file was judged damaged.
    pub damage: Option<String>,
}

/// Both files of one module instance.
#[derive(Debug)]
pub struct Store {
    lists: ListStore,
    local: LocalStore,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, checking both files' integrity.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<(Store, OpenReport), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let local_path = dir.join(local::FILE);
        let local_opener = Opener {
            path: local_path.clone(),
            file: local::FILE,
            cache_bytes: 1024 * 1024,
            reserve_bytes: options.reserve_bytes,
            full_disk: options.full_disk.clone(),
        };
        let local = match local_opener.open() {
            Ok(db) => LocalStore::new(Handle::reopenable(db, local_opener))?,
            Err(OpenFailure::Damaged(reason)) => {
                return Err(StoreError::LocalDamaged {
                    path: local_path,
                    reason,
                });
            }
            Err(OpenFailure::Other(err)) => return Err(err),
        };
        let mut report = OpenReport::default();
        let lists = match open_lists(dir, &options) {
            Ok(lists) => lists,
            Err(OpenFailure::Other(err)) => return Err(err),
            Err(OpenFailure::Damaged(reason)) => {
                let aside = quarantine(&dir.join(lists::FILE))?;
                let segments = dir.join(ki_set::DIR);
                if segments.exists() {
                    quarantine(&segments)?;
                }
                report.quarantined = Some(aside);
                report.damage = Some(reason);
                match open_lists(dir, &options) {
                    Ok(lists) => lists,
                    Err(OpenFailure::Other(err)) => return Err(err),
                    Err(OpenFailure::Damaged(reason)) => {
                        return Err(StoreError::Io {
                            path: dir.join(lists::FILE),
                            source: std::io::Error::other(format!(
                                "fresh lists are damaged at once: {reason}"
                            )),
                        });
                    }
                }
            }
        };
        Ok((Store { lists, local }, report))
    }

    /// The replicated lists.
    pub fn lists(&self) -> &ListStore {
        &self.lists
    }

    /// The sold DB and identity.
    pub fn local(&self) -> &LocalStore {
        &self.local
    }

    /// True when either file refuses writes after an I/O failure.
    pub fn is_poisoned(&self) -> bool {
        self.lists.is_poisoned() || self.local.is_poisoned()
    }

    /// The I/O failure that made either file refuse writes, if one did.
    pub fn poison_reason(&self) -> Option<String> {
        self.lists
            .poison_reason()
            .or_else(|| self.local.poison_reason())
    }
}

/// Opens `lists.redb` and the segments it names, telling damage apart from other failures.
fn open_lists(dir: &Path, options: &StoreOptions) -> Result<ListStore, OpenFailure> {
    let opener = Opener {
        path: dir.join(lists::FILE),
        file: lists::FILE,
        cache_bytes: options.cache_bytes,
        reserve_bytes: options.reserve_bytes,
        full_disk: options.full_disk.clone(),
    };
    let db = opener.open()?;
    match ListStore::open(
        Handle::reopenable(db, opener),
        dir,
        options.full_disk.clone(),
    ) {
        Ok(Ok(lists)) => Ok(lists),
        Ok(Err(reason)) => Err(OpenFailure::Damaged(reason)),
        Err(err) => Err(OpenFailure::Other(err)),
    }
}

/// Renames a damaged file or directory aside (`<name>.damaged-<unix ms>`), never deleting it.
fn quarantine(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{stamp}"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(aside)
}
