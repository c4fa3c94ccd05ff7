//! Read side of the lists: what the check API asks. Each list is read in one read transaction,
//! so it is seen at one committed batch boundary, never half a batch.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadTransaction, ReadableTable};

use crate::error::{InFile, StoreError};
use crate::key::{Gtin, KiFingerprint};
use crate::lists::{BLOCKED_GTIN, FILE, GREY_GTIN, ListDb, ListStore, MIN_PRICE, MinPrice};

/// What the lists say about one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListLookup {
    /// The KI is in `blocked_cis`.
    pub ki_blocked: bool,
    /// The GTIN is in `blocked_gtin`.
    pub gtin_blocked: bool,
    /// The GTIN is in `grey_gtin`.
    pub grey_gtin: bool,
    /// The GTIN's minimum prices, if listed.
    pub min_price: Option<MinPrice>,
}

impl ListLookup {
    /// Blocked by any list (in grey mode a grey GTIN blocks the offline sale too).
    pub fn is_blocked(&self) -> bool {
        self.ki_blocked || self.gtin_blocked || self.grey_gtin
    }
}

/// The whole content of the lists, for tests and tools (memory grows with the lists).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListSnapshot {
    /// Fingerprints in `blocked_cis`.
    pub blocked_cis: BTreeSet<u128>,
    /// `blocked_gtin`.
    pub blocked_gtin: BTreeSet<u64>,
    /// `grey_gtin`.
    pub grey_gtin: BTreeSet<u64>,
    /// `min_price`.
    pub min_price: BTreeMap<u64, MinPrice>,
}

impl ListStore {
    /// Looks a code up in every list at once.
    pub fn lookup(&self, ki: &str, gtin: Option<Gtin>) -> Result<ListLookup, StoreError> {
        let ki_blocked = self.ki.contains(&self.handle, KiFingerprint::of(ki).0)?;
        let Some(gtin) = gtin else {
            return Ok(ListLookup {
                ki_blocked,
                ..ListLookup::default()
            });
        };
        let txn = self.handle.read()?;
        Ok(ListLookup {
            ki_blocked,
            gtin_blocked: has_gtin(&txn, ListDb::BlockedGtin, gtin)?,
            grey_gtin: has_gtin(&txn, ListDb::GreyGtin, gtin)?,
            min_price: min_price_in(&txn, gtin)?,
        })
    }

    /// Whether a KI (or its GTIN) is blocked.
    pub fn is_blocked(&self, ki: &str, gtin: Option<Gtin>) -> Result<bool, StoreError> {
        Ok(self.lookup(ki, gtin)?.is_blocked())
    }

    /// Whether a GTIN is in the grey list.
    pub fn is_grey(&self, gtin: Gtin) -> Result<bool, StoreError> {
        has_gtin(&self.handle.read()?, ListDb::GreyGtin, gtin)
    }

    /// The GTIN's minimum prices.
    pub fn min_price(&self, gtin: Gtin) -> Result<Option<MinPrice>, StoreError> {
        min_price_in(&self.handle.read()?, gtin)
    }

    /// Everything in the lists (tests and tools; memory grows with the lists).
    pub fn snapshot(&self) -> Result<ListSnapshot, StoreError> {
        let mut snapshot = ListSnapshot {
            blocked_cis: self.ki.keys(&self.handle)?.into_iter().collect(),
            ..ListSnapshot::default()
        };
        let txn = self.handle.read()?;
        for entry in txn
            .open_table(BLOCKED_GTIN)
            .in_file(FILE)?
            .iter()
            .in_file(FILE)?
        {
            snapshot.blocked_gtin.insert(entry.in_file(FILE)?.0.value());
        }
        for entry in txn
            .open_table(GREY_GTIN)
            .in_file(FILE)?
            .iter()
            .in_file(FILE)?
        {
            snapshot.grey_gtin.insert(entry.in_file(FILE)?.0.value());
        }
        for entry in txn
            .open_table(MIN_PRICE)
            .in_file(FILE)?
            .iter()
            .in_file(FILE)?
        {
            let (gtin, price) = entry.in_file(FILE)?;
            let (mrp, smp) = price.value();
            snapshot
                .min_price
                .insert(gtin.value(), MinPrice { mrp, smp });
        }
        Ok(snapshot)
    }
}

fn has_gtin(txn: &ReadTransaction, db: ListDb, gtin: Gtin) -> Result<bool, StoreError> {
    let definition = if db == ListDb::GreyGtin {
        GREY_GTIN
    } else {
        BLOCKED_GTIN
    };
    Ok(txn
        .open_table(definition)
        .in_file(FILE)?
        .get(gtin.as_u64())
        .in_file(FILE)?
        .is_some())
}

fn min_price_in(txn: &ReadTransaction, gtin: Gtin) -> Result<Option<MinPrice>, StoreError> {
    let table = txn.open_table(MIN_PRICE).in_file(FILE)?;
    Ok(table.get(gtin.as_u64()).in_file(FILE)?.map(|guard| {
        let (mrp, smp) = guard.value();
        MinPrice { mrp, smp }
    }))
}
