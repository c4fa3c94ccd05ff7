//! Local-only data (`local.redb`): the sold DB and the module's identity. Nothing here can be
//! re-synced, so this file lives apart from the lists and is never quarantined or dropped with
//! them.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::error::{InFile, StoreError};
use crate::handle::Handle;
use crate::meta::{self, MetaTable};

pub(crate) const FILE: &str = "local.redb";

/// KI → sale time (Unix ms).
const SOLD: TableDefinition<&str, u64> = TableDefinition::new("sold");
/// (sale time, KI) → (): the same entries ordered by time, so expiry reads only what expires.
const SOLD_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("sold_by_time");
const MODULE: MetaTable = TableDefinition::new("module");

/// How long a sale is remembered (protocol.md §3.6: 30 days).
pub const SOLD_RETENTION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Who this module is, as registration at the operator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Instance id assigned at registration.
    pub inst: String,
    /// Participant INN.
    pub inn: String,
    /// The operator's service URL the module registered at.
    pub service_url: String,
    /// The participant token (kept for automatic re-initialisation).
    pub token: String,
    /// Where and how to replicate, as the registration answer's JSON text.
    pub source: String,
    /// Grey-GTIN mode.
    pub grey_mode: bool,
}

const IDENTITY_KEYS: [&str; 6] = ["inst", "inn", "serviceUrl", "token", "source", "greyMode"];
const STATUS: &str = "status";

/// The local file.
#[derive(Debug)]
pub struct LocalStore {
    handle: Handle,
}

impl LocalStore {
    pub(crate) fn new(handle: Handle) -> Result<LocalStore, StoreError> {
        handle.write(|txn| {
            txn.open_table(SOLD).in_file(FILE)?;
            txn.open_table(SOLD_BY_TIME).in_file(FILE)?;
            txn.open_table(MODULE).in_file(FILE)?;
            Ok(())
        })?;
        Ok(LocalStore { handle })
    }

    /// True after a write failed with an I/O error.
    pub fn is_poisoned(&self) -> bool {
        self.handle.is_poisoned()
    }

    /// The I/O failure that made the store refuse writes, if one did.
    pub fn poison_reason(&self) -> Option<String> {
        self.handle.poison_reason()
    }

    /// Records a sale at `now`. Returns false when the KI was already recorded (its first sale
    /// time is kept).
    pub fn sold_insert(&self, ki: &str, now: u64) -> Result<bool, StoreError> {
        self.handle.write(|txn| {
            let mut sold = txn.open_table(SOLD).in_file(FILE)?;
            if sold.get(ki).in_file(FILE)?.is_some() {
                return Ok(false);
            }
            sold.insert(ki, now).in_file(FILE)?;
            txn.open_table(SOLD_BY_TIME)
                .in_file(FILE)?
                .insert((now, ki), ())
                .in_file(FILE)?;
            Ok(true)
        })
    }

    /// Forgets a sale (a return). Returns false when the KI was not recorded.
    pub fn sold_remove(&self, ki: &str) -> Result<bool, StoreError> {
        self.handle.write(|txn| {
            let Some(time) = txn
                .open_table(SOLD)
                .in_file(FILE)?
                .remove(ki)
                .in_file(FILE)?
                .map(|guard| guard.value())
            else {
                return Ok(false);
            };
            txn.open_table(SOLD_BY_TIME)
                .in_file(FILE)?
                .remove((time, ki))
                .in_file(FILE)?;
            Ok(true)
        })
    }

    /// The sale time of a KI, if recorded.
    pub fn sold_get(&self, ki: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.handle.read()?;
        let sold = txn.open_table(SOLD).in_file(FILE)?;
        Ok(sold.get(ki).in_file(FILE)?.map(|guard| guard.value()))
    }

    /// A page of recorded KIs in KI order, and the total count.
    pub fn sold_list(&self, skip: u64, limit: u64) -> Result<(u64, Vec<String>), StoreError> {
        let txn = self.handle.read()?;
        let sold = txn.open_table(SOLD).in_file(FILE)?;
        let total = sold.len().in_file(FILE)?;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for entry in sold.iter().in_file(FILE)?.skip(skip).take(limit) {
            page.push(entry.in_file(FILE)?.0.value().to_owned());
        }
        Ok((total, page))
    }

    /// Number of recorded sales.
    pub fn sold_count(&self) -> Result<u64, StoreError> {
        let txn = self.handle.read()?;
        txn.open_table(SOLD).in_file(FILE)?.len().in_file(FILE)
    }

    /// Deletes sales older than the retention period at `now`. Returns how many went.
    pub fn sold_purge(&self, now: u64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(SOLD_RETENTION_MS);
        self.handle.write(|txn| {
            let mut by_time = txn.open_table(SOLD_BY_TIME).in_file(FILE)?;
            let mut sold = txn.open_table(SOLD).in_file(FILE)?;
            let mut expired = Vec::new();
            for entry in by_time.range((0, "")..(cutoff, "")).in_file(FILE)? {
                let (key, _) = entry.in_file(FILE)?;
                let (time, ki) = key.value();
                expired.push((time, ki.to_owned()));
            }
            for (time, ki) in &expired {
                by_time.remove((*time, ki.as_str())).in_file(FILE)?;
                sold.remove(ki.as_str()).in_file(FILE)?;
            }
            Ok(expired.len() as u64)
        })
    }

    /// A page of recorded sales with their times (Unix ms), in KI order, and the total count.
    pub fn sold_entries(
        &self,
        skip: u64,
        limit: u64,
    ) -> Result<(u64, Vec<(String, u64)>), StoreError> {
        let txn = self.handle.read()?;
        let sold = txn.open_table(SOLD).in_file(FILE)?;
        let total = sold.len().in_file(FILE)?;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for entry in sold.iter().in_file(FILE)?.skip(skip).take(limit) {
            let (ki, time) = entry.in_file(FILE)?;
            page.push((ki.value().to_owned(), time.value()));
        }
        Ok((total, page))
    }

    /// Restores sales with their own times in one transaction (a backup being loaded): a KI
    /// already recorded keeps its first sale time. Returns how many were new.
    pub fn sold_restore(&self, entries: &[(String, u64)]) -> Result<u64, StoreError> {
        self.handle.write(|txn| {
            let mut sold = txn.open_table(SOLD).in_file(FILE)?;
            let mut by_time = txn.open_table(SOLD_BY_TIME).in_file(FILE)?;
            let mut added = 0;
            for (ki, time) in entries {
                if sold.get(ki.as_str()).in_file(FILE)?.is_some() {
                    continue;
                }
                sold.insert(ki.as_str(), *time).in_file(FILE)?;
                by_time.insert((*time, ki.as_str()), ()).in_file(FILE)?;
                added += 1;
            }
            Ok(added)
        })
    }

    /// Deletes every recorded sale (`init` with `clearSold`).
    pub fn sold_clear(&self) -> Result<(), StoreError> {
        self.handle.write(|txn| {
            txn.delete_table(SOLD).in_file(FILE)?;
            txn.delete_table(SOLD_BY_TIME).in_file(FILE)?;
            txn.open_table(SOLD).in_file(FILE)?;
            txn.open_table(SOLD_BY_TIME).in_file(FILE)?;
            Ok(())
        })
    }

    /// The stored identity, if the module was ever registered.
    pub fn identity(&self) -> Result<Option<Identity>, StoreError> {
        let txn = self.handle.read()?;
        let module = txn.open_table(MODULE).in_file(FILE)?;
        let mut values = Vec::with_capacity(IDENTITY_KEYS.len());
        for name in IDENTITY_KEYS {
            match meta::get_text(&module, FILE, name)? {
                Some(value) => values.push(value),
                None => return Ok(None),
            }
        }
        let [inst, inn, service_url, token, source, grey] = <[String; 6]>::try_from(values)
            .map_err(|_| StoreError::Malformed {
                file: FILE,
                key: "identity".into(),
            })?;
        Ok(Some(Identity {
            inst,
            inn,
            service_url,
            token,
            source,
            grey_mode: grey == "1",
        }))
    }

    /// Stores (or with `None` forgets) the identity.
    pub fn set_identity(&self, identity: Option<&Identity>) -> Result<(), StoreError> {
        self.handle.write(|txn| {
            let mut module = txn.open_table(MODULE).in_file(FILE)?;
            let Some(identity) = identity else {
                for name in IDENTITY_KEYS {
                    meta::remove(&mut module, FILE, name)?;
                }
                return Ok(());
            };
            let grey = if identity.grey_mode { "1" } else { "0" };
            let values = [
                identity.inst.as_str(),
                &identity.inn,
                &identity.service_url,
                &identity.token,
                &identity.source,
                grey,
            ];
            for (name, value) in IDENTITY_KEYS.into_iter().zip(values) {
                meta::put_text(&mut module, FILE, name, value)?;
            }
            Ok(())
        })
    }

    /// The last persisted lifecycle status, as its wire name.
    pub fn status(&self) -> Result<Option<String>, StoreError> {
        let txn = self.handle.read()?;
        meta::get_text(&txn.open_table(MODULE).in_file(FILE)?, FILE, STATUS)
    }

    /// Persists the lifecycle status.
    pub fn set_status(&self, status: &str) -> Result<(), StoreError> {
        self.handle.write(|txn| {
            let mut module = txn.open_table(MODULE).in_file(FILE)?;
            meta::put_text(&mut module, FILE, STATUS, status)
        })
    }
}
