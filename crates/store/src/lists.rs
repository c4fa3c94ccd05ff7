//! The replicated lists (`lists.redb`): `blocked_cis`, `blocked_gtin`, `grey_gtin`, `min_price`,
//! and their replication meta (checkpoints, doc counts, `dbVersion`, sync times). Everything here
//! can be rebuilt by a full re-sync, which is why a damaged file is quarantined, not repaired.

use redb::{ReadableTableMetadata, TableDefinition, WriteTransaction};

use crate::disk::FullDiskSwitch;
use crate::error::{InFile, StoreError};
use crate::handle::Handle;
use crate::key::{Gtin, KiFingerprint};
use crate::ki_set::{self, KiSet, Pending};
use crate::meta::{self, MetaTable};

pub(crate) const FILE: &str = "lists.redb";

pub(crate) const BLOCKED_GTIN: TableDefinition<u64, ()> = TableDefinition::new("blocked_gtin");
pub(crate) const GREY_GTIN: TableDefinition<u64, ()> = TableDefinition::new("grey_gtin");
/// GTIN → (`mrp`, `smp`) in kopecks.
pub(crate) const MIN_PRICE: TableDefinition<u64, (Option<u64>, Option<u64>)> =
    TableDefinition::new("min_price");
pub(crate) const META: MetaTable = TableDefinition::new("meta");

const DB_VERSION: &str = "dbVersion";
const LAST_SYNC: &str = "lastSync";
const LAST_UPDATE: &str = "lastUpdate";
const LAST_CONTACT: &str = "lastContact";

/// One replicated database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListDb {
    /// Blocked KIs.
    BlockedCis,
    /// GTINs all of whose codes are blocked.
    BlockedGtin,
    /// GTINs that have blocked codes (grey mode replaces `blocked_cis` with it).
    GreyGtin,
    /// Minimum prices per GTIN.
    MinPrice,
}

impl ListDb {
    /// Every list, in a fixed order.
    pub const ALL: [ListDb; 4] = [
        ListDb::BlockedCis,
        ListDb::BlockedGtin,
        ListDb::GreyGtin,
        ListDb::MinPrice,
    ];

    /// The database name on the wire and in `dbState`.
    pub fn name(self) -> &'static str {
        match self {
            ListDb::BlockedCis => "blocked_cis",
            ListDb::BlockedGtin => "blocked_gtin",
            ListDb::GreyGtin => "grey_gtin",
            ListDb::MinPrice => "min_price",
        }
    }

    /// The list of that name.
    pub fn by_name(name: &str) -> Option<ListDb> {
        ListDb::ALL.into_iter().find(|db| db.name() == name)
    }
}

/// Minimum prices of a GTIN, kopecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinPrice {
    /// Minimum retail price (NCP).
    pub mrp: Option<u64>,
    /// Lowest single maximum price (tobacco ЕМЦ).
    pub smp: Option<u64>,
}

/// One replicated document, already mapped to the list's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListChange {
    /// A KI is in `blocked_cis`.
    BlockKi(KiFingerprint),
    /// A GTIN is in `blocked_gtin` or `grey_gtin`.
    ListGtin(Gtin),
    /// A GTIN's minimum prices (`min_price`).
    Price(Gtin, MinPrice),
    /// A deleted KI document.
    RemoveKi(KiFingerprint),
    /// A deleted GTIN document.
    RemoveGtin(Gtin),
}

/// One `_changes` batch of one database and the checkpoint that covers it; applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The database.
    pub db: ListDb,
    /// Mapped changes, in feed order.
    pub changes: Vec<ListChange>,
    /// `last_seq` of the batch, as the JSON text the source sent (opaque, sent back verbatim).
    pub checkpoint: String,
    /// The source had nothing more pending: the first full pull of this database is complete.
    pub caught_up: bool,
    /// Documents in the batch that could not be mapped (counted, never fatal).
    pub unmapped: u64,
}

/// Replication state of one database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbState {
    /// The last committed checkpoint (`since` for the next pull), verbatim.
    pub checkpoint: Option<String>,
    /// Entries in the local table.
    pub doc_count: u64,
    /// The first full pull has completed since the last reset.
    pub pulled: bool,
    /// Documents skipped because they could not be mapped.
    pub unmapped: u64,
}

/// Persisted sync times, Unix ms (0 = never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncTimes {
    /// Last time every replicated database was caught up.
    pub last_sync: u64,
    /// Last start of a replication.
    pub last_update: u64,
    /// Last successful exchange with the source.
    pub last_contact: u64,
}

/// The lists: `lists.redb` and the `blocked_cis` segments beside it.
#[derive(Debug)]
pub struct ListStore {
    pub(crate) handle: Handle,
    pub(crate) ki: KiSet,
}

fn key(db: ListDb, field: &str) -> String {
    format!("db/{}/{field}", db.name())
}

impl ListStore {
    /// Opens the lists in `dir` over an open `lists.redb`; `Ok(Err(reason))` when a segment is
    /// damaged.
    pub(crate) fn open(
        handle: Handle,
        dir: &std::path::Path,
        full_disk: Option<FullDiskSwitch>,
    ) -> Result<Result<ListStore, String>, StoreError> {
        create_tables(&handle)?;
        Ok(KiSet::open(dir, &handle, full_disk)?.map(|ki| ListStore { handle, ki }))
    }

    /// True after a write failed with an I/O error: the store refuses writes until reopened.
    pub fn is_poisoned(&self) -> bool {
        self.handle.is_poisoned()
    }

    /// The I/O failure that made the store refuse writes, if one did.
    pub fn poison_reason(&self) -> Option<String> {
        self.handle.poison_reason()
    }

    /// Applies a batch and its checkpoint in one transaction. Returns whether list content
    /// changed (then `dbVersion` is new).
    pub fn apply(&self, batch: &Batch) -> Result<bool, StoreError> {
        // Refuse a misfit before any file is written.
        if let Some(misfit) = batch.changes.iter().find(|c| !fits(batch.db, c)) {
            return Err(mismatch(batch.db, misfit));
        }
        let mut pending = Pending::default();
        let result = self.handle.write(|txn| {
            let changed = if batch.db == ListDb::BlockedCis {
                self.apply_ki(txn, batch, &mut pending)?
            } else {
                apply_changes(txn, batch)?
            };
            let mut meta_table = txn.open_table(META).in_file(FILE)?;
            let count_key = key(batch.db, "count");
            let count = meta::get_u64(&meta_table, FILE, &count_key)?.unwrap_or(0);
            let count = changed
                .exact_count
                .unwrap_or_else(|| count.saturating_add_signed(changed.count_delta));
            meta::put_u64(&mut meta_table, FILE, &count_key, count)?;
            let checkpoint_key = key(batch.db, "checkpoint");
            meta::put_text(&mut meta_table, FILE, &checkpoint_key, &batch.checkpoint)?;
            if batch.caught_up {
                meta::put_u64(&mut meta_table, FILE, &key(batch.db, "pulled"), 1)?;
            }
            if batch.unmapped > 0 {
                let unmapped_key = key(batch.db, "unmapped");
                let unmapped = meta::get_u64(&meta_table, FILE, &unmapped_key)?.unwrap_or(0);
                meta::put_u64(
                    &mut meta_table,
                    FILE,
                    &unmapped_key,
                    unmapped + batch.unmapped,
                )?;
            }
            if changed.content {
                meta::put_text(&mut meta_table, FILE, DB_VERSION, &new_version())?;
            }
            Ok(changed.content)
        });
        self.ki.settle(pending, result.is_ok());
        result
    }

    fn apply_ki(
        &self,
        txn: &WriteTransaction,
        batch: &Batch,
        pending: &mut Pending,
    ) -> Result<Changed, StoreError> {
        let pulled = {
            let meta_table = txn.open_table(META).in_file(FILE)?;
            meta::get_u64(&meta_table, FILE, &key(ListDb::BlockedCis, "pulled"))? == Some(1)
        };
        // One net change per key, the last in feed order (the sort is stable).
        let mut net: Vec<(u128, bool)> = batch
            .changes
            .iter()
            .filter_map(|change| match change {
                ListChange::BlockKi(ki) => Some((ki.0, true)),
                ListChange::RemoveKi(ki) => Some((ki.0, false)),
                _ => None,
            })
            .collect();
        net.sort_by_key(|&(key, _)| key);
        let mut last: Vec<(u128, bool)> = Vec::with_capacity(net.len());
        for change in net {
            match last.last_mut() {
                Some(previous) if previous.0 == change.0 => *previous = change,
                _ => last.push(change),
            }
        }
        let first_pull = !pulled;
        let ki = self.ki.apply(
            txn,
            &last,
            first_pull,
            first_pull && batch.caught_up,
            pending,
        )?;
        Ok(Changed {
            content: ki.content,
            count_delta: ki.count_delta,
            exact_count: ki.exact_count,
        })
    }

    /// Empties one database and forgets its checkpoint, so the next pull starts from scratch.
    pub fn reset(&self, db: ListDb) -> Result<(), StoreError> {
        let mut pending = Pending::default();
        let result = self.handle.write(|txn| {
            let had_entries = match db {
                ListDb::BlockedCis => self.ki.clear(txn, &mut pending)?,
                ListDb::BlockedGtin => clear(txn, BLOCKED_GTIN)?,
                ListDb::GreyGtin => clear(txn, GREY_GTIN)?,
                ListDb::MinPrice => clear(txn, MIN_PRICE)?,
            };
            let mut meta_table = txn.open_table(META).in_file(FILE)?;
            for field in ["checkpoint", "count", "pulled", "unmapped"] {
                meta::remove(&mut meta_table, FILE, &key(db, field))?;
            }
            if had_entries {
                meta::put_text(&mut meta_table, FILE, DB_VERSION, &new_version())?;
            }
            Ok(())
        });
        self.ki.settle(pending, result.is_ok());
        result
    }

    /// Replication state of one database.
    pub fn db_state(&self, db: ListDb) -> Result<DbState, StoreError> {
        let txn = self.handle.read()?;
        let meta_table = txn.open_table(META).in_file(FILE)?;
        Ok(DbState {
            checkpoint: meta::get_text(&meta_table, FILE, &key(db, "checkpoint"))?,
            doc_count: meta::get_u64(&meta_table, FILE, &key(db, "count"))?.unwrap_or(0),
            pulled: meta::get_u64(&meta_table, FILE, &key(db, "pulled"))?.unwrap_or(0) == 1,
            unmapped: meta::get_u64(&meta_table, FILE, &key(db, "unmapped"))?.unwrap_or(0),
        })
    }

    /// The UUID naming the current list content (`dbVersion`).
    pub fn db_version(&self) -> Result<String, StoreError> {
        let txn = self.handle.read()?;
        let meta_table = txn.open_table(META).in_file(FILE)?;
        meta::get_text(&meta_table, FILE, DB_VERSION)?.ok_or(StoreError::Malformed {
            file: FILE,
            key: DB_VERSION.into(),
        })
    }

    /// Persisted sync times.
    pub fn sync_times(&self) -> Result<SyncTimes, StoreError> {
        let txn = self.handle.read()?;
        let meta_table = txn.open_table(META).in_file(FILE)?;
        let get = |name| meta::get_u64(&meta_table, FILE, name).map(Option::unwrap_or_default);
        Ok(SyncTimes {
            last_sync: get(LAST_SYNC)?,
            last_update: get(LAST_UPDATE)?,
            last_contact: get(LAST_CONTACT)?,
        })
    }

    /// Records sync times; `None` leaves a time as it is.
    pub fn record_times(
        &self,
        last_sync: Option<u64>,
        last_update: Option<u64>,
        last_contact: Option<u64>,
    ) -> Result<(), StoreError> {
        self.handle.write(|txn| {
            let mut meta_table = txn.open_table(META).in_file(FILE)?;
            for (name, value) in [
                (LAST_SYNC, last_sync),
                (LAST_UPDATE, last_update),
                (LAST_CONTACT, last_contact),
            ] {
                if let Some(value) = value {
                    meta::put_u64(&mut meta_table, FILE, name, value)?;
                }
            }
            Ok(())
        })
    }
}

/// Creates every table so readers never meet a missing one, and gives the empty store a
/// dbVersion of its own.
fn create_tables(handle: &Handle) -> Result<(), StoreError> {
    handle.write(|txn| {
        txn.open_table(ki_set::KI_SEGMENTS).in_file(FILE)?;
        txn.open_table(ki_set::KI_TOMBSTONES).in_file(FILE)?;
        txn.open_table(BLOCKED_GTIN).in_file(FILE)?;
        txn.open_table(GREY_GTIN).in_file(FILE)?;
        txn.open_table(MIN_PRICE).in_file(FILE)?;
        let mut meta = txn.open_table(META).in_file(FILE)?;
        if meta::get_text(&meta, FILE, DB_VERSION)?.is_none() {
            meta::put_text(&mut meta, FILE, DB_VERSION, &new_version())?;
        }
        Ok(())
    })
}

fn new_version() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Default)]
struct Changed {
    content: bool,
    count_delta: i64,
    /// Set when the count was established anew (a merge of the whole `blocked_cis`).
    exact_count: Option<u64>,
}

/// Applies a batch of a B-tree list (everything but `blocked_cis`).
fn apply_changes(txn: &WriteTransaction, batch: &Batch) -> Result<Changed, StoreError> {
    let mut changed = Changed::default();
    let mut note = |was: bool, is: bool, differs: bool| {
        changed.count_delta += i64::from(is) - i64::from(was);
        changed.content |= was != is || differs;
    };
    // Applying in key order touches each B-tree leaf once per batch instead of at random (about
    // twice as fast on large batches). The sort is stable, so changes to the same key keep
    // their feed order and the result is the same.
    let mut ordered: Vec<&ListChange> = batch.changes.iter().collect();
    ordered.sort_by_key(|change| sort_key(change));
    match batch.db {
        // `blocked_cis` lives in segments (`ListStore::apply_ki`), never here.
        ListDb::BlockedCis => {
            return Err(StoreError::KeyMismatch {
                db: batch.db.name(),
                key: "B-tree",
            });
        }
        ListDb::BlockedGtin | ListDb::GreyGtin => {
            let definition = if batch.db == ListDb::GreyGtin {
                GREY_GTIN
            } else {
                BLOCKED_GTIN
            };
            let mut table = txn.open_table(definition).in_file(FILE)?;
            for change in ordered {
                match change {
                    ListChange::ListGtin(gtin) => {
                        let was = table.insert(gtin.as_u64(), ()).in_file(FILE)?.is_some();
                        note(was, true, false);
                    }
                    ListChange::RemoveGtin(gtin) => {
                        let was = table.remove(gtin.as_u64()).in_file(FILE)?.is_some();
                        note(was, false, false);
                    }
                    other => return Err(mismatch(batch.db, other)),
                }
            }
        }
        ListDb::MinPrice => {
            let mut table = txn.open_table(MIN_PRICE).in_file(FILE)?;
            for change in ordered {
                match change {
                    ListChange::Price(gtin, price) => {
                        let value = (price.mrp, price.smp);
                        let old = table.insert(gtin.as_u64(), value).in_file(FILE)?;
                        let old = old.map(|guard| guard.value());
                        note(old.is_some(), true, old.is_some_and(|old| old != value));
                    }
                    ListChange::RemoveGtin(gtin) => {
                        let was = table.remove(gtin.as_u64()).in_file(FILE)?.is_some();
                        note(was, false, false);
                    }
                    other => return Err(mismatch(batch.db, other)),
                }
            }
        }
    }
    Ok(changed)
}

fn clear<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<bool, StoreError> {
    let had_entries = !txn
        .open_table(definition)
        .in_file(FILE)?
        .is_empty()
        .in_file(FILE)?;
    // Dropping the whole tree frees its pages at once; readers keep their snapshot.
    txn.delete_table(definition).in_file(FILE)?;
    txn.open_table(definition).in_file(FILE)?;
    Ok(had_entries)
}

fn sort_key(change: &ListChange) -> u128 {
    match change {
        ListChange::BlockKi(ki) | ListChange::RemoveKi(ki) => ki.0,
        ListChange::ListGtin(gtin) | ListChange::RemoveGtin(gtin) | ListChange::Price(gtin, _) => {
            u128::from(gtin.as_u64())
        }
    }
}

fn fits(db: ListDb, change: &ListChange) -> bool {
    match db {
        ListDb::BlockedCis => matches!(change, ListChange::BlockKi(_) | ListChange::RemoveKi(_)),
        ListDb::BlockedGtin | ListDb::GreyGtin => {
            matches!(change, ListChange::ListGtin(_) | ListChange::RemoveGtin(_))
        }
        ListDb::MinPrice => matches!(change, ListChange::Price(..) | ListChange::RemoveGtin(_)),
    }
}

fn mismatch(db: ListDb, change: &ListChange) -> StoreError {
    let key = match change {
        ListChange::BlockKi(_) | ListChange::RemoveKi(_) => "KI",
        ListChange::ListGtin(_) | ListChange::RemoveGtin(_) => "GTIN",
        ListChange::Price(..) => "price",
    };
    StoreError::KeyMismatch { db: db.name(), key }
}
