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
        let tx = self.database().begin_write()?;
        let changed = block_in(&tx, items, ogvs)?;
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

    /// Stores issued codes and, with `block = Some(ogvs)`, blocks them, in one transaction.
    /// Returns the KIs that already existed (left unchanged). Keys are written in sorted order:
    /// neighbouring keys share B-tree pages, so a big batch rewrites far fewer pages.
    pub fn issue_codes(
        &self,
        codes: &[(String, CodeRecord)],
        gtin: &str,
        block: Option<Option<&[String]>>,
    ) -> Result<Vec<String>, StoreError> {
        let mut order: Vec<&(String, CodeRecord)> = codes.iter().collect();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let tx = self.database().begin_write()?;
        let mut existing = Vec::new();
        let mut fresh = Vec::with_capacity(codes.len());
        {
            let mut table = tx.open_table(CODES)?;
            // A batch usually shares one record: encode it once.
            let mut encoded: Option<(&CodeRecord, Vec<u8>)> = None;
            for (ki, record) in order {
                if table.get(ki.as_str())?.is_some() {
                    existing.push(ki.clone());
                    continue;
                }
                let bytes = match &encoded {
                    Some((last, bytes)) if *last == record => bytes,
                    _ => &encoded.insert((record, encode_json(record))).1,
                };
                table.insert(ki.as_str(), bytes.as_slice())?;
                fresh.push((ki.clone(), gtin.to_string()));
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

fn block_in(
    tx: &WriteTransaction,
    items: &[BlockItem],
    ogvs: Option<&[String]>,
) -> Result<(usize, Published), StoreError> {
    let mut order: Vec<&BlockItem> = items.iter().collect();
    order.sort_unstable();
    let mut changed = 0;
    let mut cis = ListWriter::open(tx, Db::BlockedCis)?;
    let mut grey = ListWriter::open(tx, Db::GreyGtin)?;
    let mut counts = tx.open_table(GREY_COUNTS)?;
    let mut bodies: HashMap<&str, Vec<u8>> = HashMap::new();
    // GTIN → (blocked codes before this batch, added now); written back once.
    let mut added: HashMap<&str, (u64, u64)> = HashMap::new();
    for (ki, gtin) in order {
        let body = bodies.entry(gtin.as_str()).or_insert_with(|| {
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
                let entry = match added.entry(gtin.as_str()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let before = counts.get(gtin.as_str())?.map(|v| v.value()).unwrap_or(0);
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
