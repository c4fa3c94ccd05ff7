//! Blocking and unblocking codes, keeping `grey_gtin` (GTINs that have blocked codes) in step,
//! and issuing codes (optionally blocked) in one transaction.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde_json::{Value, json};

use super::lists::{Db, ListWriter, PutOutcome};
use super::{CODES, CodeRecord, Store, encode_json};
use crate::error::StoreError;

/// GTIN → number of its blocked codes.
const GREY_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("grey_counts");

/// A code to block: KI and GTIN.
pub type BlockItem = (String, String);

impl Store {
    /// Blocks codes with the given `ogvs`; returns how many changed (new or new `ogvs`).
    pub fn block_codes(
        &self,
        items: &[BlockItem],
        ogvs: Option<&[String]>,
    ) -> Result<usize, StoreError> {
        let mut order: Vec<(&str, &str)> = items
            .iter()
            .map(|(ki, gtin)| (ki.as_str(), gtin.as_str()))
            .collect();
        order.sort_unstable();
        let tx = self.database().begin_write()?;
        let changed = block_in(&tx, &order, ogvs)?;
        self.commit_lists(tx, changed.1)?;
        Ok(changed.0)
    }

    /// Unblocks codes (deleted docs in `blocked_cis`); returns how many were blocked.
    pub fn unblock_codes(&self, kis: &[String]) -> Result<usize, StoreError> {
        let tx = self.database().begin_write()?;
        let mut removed = 0;
        let published;
        {
            let mut cis = ListWriter::open(&tx, Db::BlockedCis)?;
            let mut grey = ListWriter::open(&tx, Db::GreyGtin)?;
            let mut counts = tx.open_table(GREY_COUNTS)?;
            for ki in kis {
                let Some(body) = cis.live_body(ki)? else {
                    continue;
                };
                cis.delete(ki)?;
                removed += 1;
                let doc: Value = serde_json::from_slice(&body).unwrap_or_default();
                let gtin = doc
                    .get("gtin")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let left = counts
                    .get(gtin.as_str())?
                    .map(|v| v.value())
                    .unwrap_or(1)
                    .saturating_sub(1);
                if left == 0 {
                    counts.remove(gtin.as_str())?;
                    grey.delete(&gtin)?;
                } else {
                    counts.insert(gtin.as_str(), left)?;
                }
            }
            drop(counts);
            published = vec![cis.finish(&tx)?, grey.finish(&tx)?];
        }
        self.commit_lists(tx, published)?;
        Ok(removed)
    }

    /// Stores issued codes (KIs sorted, all of `gtin`, all with `record`) and, with
    /// `block = Some(ogvs)`, blocks them, in one transaction. Returns the KIs that already
    /// existed (left unchanged). Sorted keys share B-tree pages, so a big batch rewrites far
    /// fewer pages; a fresh KI is written without looking it up first (the insert reports a
    /// previous value, which is then put back).
    pub fn issue_codes(
        &self,
        kis: &[&str],
        record: &CodeRecord,
        gtin: &str,
        block: Option<Option<&[String]>>,
    ) -> Result<Vec<String>, StoreError> {
        let encoded = encode_json(record);
        let tx = self.database().begin_write()?;
        let mut existing = Vec::new();
        let mut fresh = Vec::with_capacity(kis.len());
        {
            let mut table = tx.open_table(CODES)?;
            for &ki in kis {
                let previous = table
                    .insert(ki, encoded.as_slice())?
                    .map(|old| old.value().to_vec());
                match previous {
                    Some(old) => {
                        table.insert(ki, old.as_slice())?;
                        existing.push(ki.to_string());
                    }
                    None => fresh.push((ki, gtin)),
                }
            }
        }
        let mut published = Vec::new();
        if let Some(ogvs) = block {
            published = block_in(&tx, &fresh, ogvs)?.1;
        }
        self.commit_lists(tx, published)?;
        Ok(existing)
    }

    fn commit_lists(
        &self,
        tx: WriteTransaction,
        published: Vec<Option<(Db, u64)>>,
    ) -> Result<(), StoreError> {
        tx.commit()?;
        for p in published {
            self.publish(p);
        }
        Ok(())
    }
}

type Published = Vec<Option<(Db, u64)>>;

/// Blocks `(KI, GTIN)` items, sorted by KI.
fn block_in<'a>(
    tx: &WriteTransaction,
    items: &[(&'a str, &'a str)],
    ogvs: Option<&[String]>,
) -> Result<(usize, Published), StoreError> {
    let mut changed = 0;
    let mut cis = ListWriter::open(tx, Db::BlockedCis)?;
    let mut grey = ListWriter::open(tx, Db::GreyGtin)?;
    let mut counts = tx.open_table(GREY_COUNTS)?;
    let mut bodies: HashMap<&str, Vec<u8>> = HashMap::new();
    // GTIN → (blocked codes before this batch, added now); written back once.
    let mut added: HashMap<&str, (u64, u64)> = HashMap::new();
    for &(ki, gtin) in items {
        let body = bodies.entry(gtin).or_insert_with(|| {
            let doc = match ogvs {
                Some(ogvs) => json!({"gtin": gtin, "ogvs": ogvs}),
                None => json!({"gtin": gtin}),
            };
            serde_json::to_vec(&doc).unwrap_or_default()
        });
        match cis.put(ki, body)? {
            PutOutcome::Unchanged => {}
            PutOutcome::Updated => changed += 1,
            PutOutcome::Created => {
                changed += 1;
                let entry = match added.entry(gtin) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let before = counts.get(gtin)?.map(|v| v.value()).unwrap_or(0);
                        e.insert((before, 0))
                    }
                };
                if entry.0 + entry.1 == 0 {
                    grey.put(gtin, b"{}")?;
                }
                entry.1 += 1;
            }
        }
    }
    for (gtin, (before, now)) in added {
        counts.insert(gtin, before + now)?;
    }
    drop(counts);
    Ok((changed, vec![cis.finish(tx)?, grey.finish(tx)?]))
}
