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
    /// Returns the KIs that already existed (left unchanged).
    pub fn issue_codes(
        &self,
        codes: &[(String, CodeRecord)],
        gtin: &str,
        block: Option<Option<&[String]>>,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.database().begin_write()?;
        let mut existing = Vec::new();
        {
            let mut table = tx.open_table(CODES)?;
            for (ki, record) in codes {
                if table.get(ki.as_str())?.is_some() {
                    existing.push(ki.clone());
                    continue;
                }
                table.insert(ki.as_str(), encode_json(record).as_slice())?;
            }
        }
        let mut published = Vec::new();
        if let Some(ogvs) = block {
            let items: Vec<BlockItem> = codes
                .iter()
                .filter(|(ki, _)| !existing.contains(ki))
                .map(|(ki, _)| (ki.clone(), gtin.to_string()))
                .collect();
            published = block_in(&tx, &items, ogvs)?.1;
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
    let mut changed = 0;
    let mut cis = ListWriter::open(tx, Db::BlockedCis)?;
    let mut grey = ListWriter::open(tx, Db::GreyGtin)?;
    let mut counts = tx.open_table(GREY_COUNTS)?;
    let mut bodies: HashMap<&str, Vec<u8>> = HashMap::new();
    for (ki, gtin) in items {
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
                let count = counts.get(gtin.as_str())?.map(|v| v.value()).unwrap_or(0);
                counts.insert(gtin.as_str(), count + 1)?;
                if count == 0 {
                    grey.put(gtin, b"{}")?;
                }
            }
        }
    }
    drop(counts);
    Ok((changed, vec![cis.finish(tx)?, grey.finish(tx)?]))
}
