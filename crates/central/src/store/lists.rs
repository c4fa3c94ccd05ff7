//! The four list databases served over the CouchDB replication protocol (design.md §3).
//!
//! Per database: `docs` (id → rev, seq, deleted, body), `changes` (seq → id; a document keeps
//! only its newest seq, as in CouchDB) and `local` (`_local` checkpoint docs, not replicated).
//! Revisions are `N-<xxh3-128 of the body>`; an unchanged body makes no new revision.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_128;

use super::{META, Store};
use crate::error::StoreError;

/// One of the list databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Db {
    BlockedCis = 0,
    BlockedGtin = 1,
    GreyGtin = 2,
    MinPrice = 3,
}

type Docs = TableDefinition<'static, &'static str, &'static [u8]>;
type Changes = TableDefinition<'static, u64, &'static str>;

macro_rules! db_tables {
    ($($variant:ident $name:literal $docs:literal $changes:literal $local:literal,)*) => {
        impl Db {
            pub const ALL: [Db; 4] = [$(Db::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Db::$variant => $name,)* }
            }

            pub fn from_name(name: &str) -> Option<Db> {
                match name { $($name => Some(Db::$variant),)* _ => None }
            }

            pub(super) fn docs(self) -> Docs {
                match self { $(Db::$variant => TableDefinition::new($docs),)* }
            }

            pub(super) fn changes(self) -> Changes {
                match self { $(Db::$variant => TableDefinition::new($changes),)* }
            }

            pub(super) fn local(self) -> Docs {
                match self { $(Db::$variant => TableDefinition::new($local),)* }
            }

            pub(super) fn seq_key(self) -> &'static str {
                match self { $(Db::$variant => concat!("seq:", $name),)* }
            }

            fn count_key(self) -> &'static str {
                match self { $(Db::$variant => concat!("count:", $name),)* }
            }

            fn deleted_key(self) -> &'static str {
                match self { $(Db::$variant => concat!("deleted:", $name),)* }
            }
        }
    };
}

db_tables! {
    BlockedCis "blocked_cis" "docs:blocked_cis" "changes:blocked_cis" "local:blocked_cis",
    BlockedGtin "blocked_gtin" "docs:blocked_gtin" "changes:blocked_gtin" "local:blocked_gtin",
    GreyGtin "grey_gtin" "docs:grey_gtin" "changes:grey_gtin" "local:grey_gtin",
    MinPrice "min_price" "docs:min_price" "changes:min_price" "local:min_price",
}

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    for db in Db::ALL {
        tx.open_table(db.docs())?;
        tx.open_table(db.changes())?;
        tx.open_table(db.local())?;
    }
    Ok(())
}

/// A stored document version: header `[deleted u8][generation u32][seq u64][hash u128]`, then
/// the body (JSON object without `_id`/`_rev`).
pub(super) struct Entry<'a> {
    pub(super) deleted: bool,
    pub(super) generation: u32,
    pub(super) seq: u64,
    pub(super) hash: u128,
    pub(super) body: &'a [u8],
}

const HEADER: usize = 1 + 4 + 8 + 16;

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

impl<'a> Entry<'a> {
    pub(super) fn decode(id: &str, raw: &'a [u8]) -> Result<Self, StoreError> {
        if raw.len() < HEADER {
            return Err(StoreError::Corrupt {
                key: id.into(),
                reason: "short doc entry".into(),
            });
        }
        Ok(Self {
            deleted: raw[0] != 0,
            generation: u32::from_le_bytes(array(&raw[1..5])),
            seq: u64::from_le_bytes(array(&raw[5..13])),
            hash: u128::from_le_bytes(array(&raw[13..29])),
            body: &raw[HEADER..],
        })
    }

    /// Encodes into `out` (cleared first), reused across writes.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(self.deleted as u8);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(self.body);
    }

    fn rev(&self) -> String {
        format!("{}-{:032x}", self.generation, self.hash)
    }

    /// A live document's body must be the JSON object we stored (`{...}`).
    pub(super) fn check_body(&self, id: &str) -> Result<(), StoreError> {
        if !self.deleted && (self.body.first() != Some(&b'{') || self.body.last() != Some(&b'}')) {
            return Err(StoreError::Corrupt {
                key: id.into(),
                reason: "doc body is not an object".into(),
            });
        }
        Ok(())
    }
}

/// A document as read for the feed or a GET.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRead {
    pub id: String,
    pub seq: u64,
    pub rev: String,
    pub deleted: bool,
    /// The stored body: a compact JSON object without `_id`/`_rev` (`b""` for a deletion).
    pub body: Vec<u8>,
}

impl DocRead {
    pub(super) fn from_entry(id: &str, entry: &Entry<'_>) -> Result<Self, StoreError> {
        entry.check_body(id)?;
        let body = if entry.deleted {
            Vec::new()
        } else {
            entry.body.to_vec()
        };
        Ok(Self {
            id: id.into(),
            seq: entry.seq,
            rev: entry.rev(),
            deleted: entry.deleted,
            body,
        })
    }

    /// The JSON document with `_id` and `_rev` (and `_deleted` for a deletion).
    pub fn doc(&self) -> Map<String, Value> {
        let mut doc = Map::new();
        doc.insert("_id".into(), Value::String(self.id.clone()));
        doc.insert("_rev".into(), Value::String(self.rev.clone()));
        if self.deleted {
            doc.insert("_deleted".into(), Value::Bool(true));
        } else if let Ok(body) = serde_json::from_slice::<Map<String, Value>>(&self.body) {
            doc.extend(body);
        }
        doc
    }

    /// Revision generation and hash, for `_revisions`.
    pub fn rev_parts(&self) -> (u64, &str) {
        let (gen_text, hash) = self.rev.split_once('-').unwrap_or(("1", &self.rev));
        (gen_text.parse().unwrap_or(1), hash)
    }
}

/// A write to a list database.
#[derive(Debug, Clone, PartialEq)]
pub enum DocChange {
    /// Create or replace the document `id` with `body` (fields other than `_id`/`_rev`).
    Put {
        id: String,
        body: Map<String, Value>,
    },
    /// Delete (tombstone) the document.
    Delete { id: String },
}

/// Writes to one list database inside a caller's transaction; [`ListWriter::finish`] stores the
/// counters. Changes are numbered in call order.
pub struct ListWriter<'t> {
    db: Db,
    docs: Table<'t, &'static str, &'static [u8]>,
    changes: Table<'t, u64, &'static str>,
    seq: u64,
    count: u64,
    deleted: u64,
    touched: bool,
    /// The encoded entry being written.
    buffer: Vec<u8>,
}

impl<'t> ListWriter<'t> {
    pub fn open(tx: &'t WriteTransaction, db: Db) -> Result<Self, StoreError> {
        let meta = tx.open_table(META)?;
        let get = |k: &str| -> Result<u64, StoreError> {
            Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0))
        };
        let (seq, count, deleted) = (
            get(db.seq_key())?,
            get(db.count_key())?,
            get(db.deleted_key())?,
        );
        drop(meta);
        Ok(Self {
            db,
            docs: tx.open_table(db.docs())?,
            changes: tx.open_table(db.changes())?,
            seq,
            count,
            deleted,
            touched: false,
            buffer: Vec::new(),
        })
    }

    /// Creates or replaces a document. A new id (the common case: issuing, blocking) costs one
    /// insert: the document is written as generation 1 first, and only when the insert reports a
    /// previous version is it rewritten from that.
    pub fn put(&mut self, id: &str, body: &[u8]) -> Result<PutOutcome, StoreError> {
        let hash = xxh3_128(body);
        let seq = self.seq + 1;
        let fresh = Entry {
            deleted: false,
            generation: 1,
            seq,
            hash,
            body,
        };
        fresh.encode_into(&mut self.buffer);
        let previous = self
            .docs
            .insert(id, self.buffer.as_slice())?
            .map(|old| old.value().to_vec());
        let Some(old) = previous else {
            self.seq = seq;
            self.count += 1;
            self.changes.insert(seq, id)?;
            self.touched = true;
            return Ok(PutOutcome::Created);
        };
        let e = Entry::decode(id, &old)?;
        if !e.deleted && e.hash == hash {
            self.docs.insert(id, old.as_slice())?;
            return Ok(PutOutcome::Unchanged);
        }
        let outcome = if e.deleted {
            PutOutcome::Created
        } else {
            PutOutcome::Updated
        };
        self.write(
            id,
            Some((e.deleted, e.generation, e.seq, e.hash)),
            false,
            hash,
            body,
        )?;
        Ok(outcome)
    }

    /// The body of the live document `id`, as this transaction sees it.
    pub fn live_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(raw) = self.docs.get(id)? else {
            return Ok(None);
        };
        let entry = Entry::decode(id, raw.value())?;
        Ok((!entry.deleted).then(|| entry.body.to_vec()))
    }

    /// Tombstones a live document; `false` when there is none.
    pub fn delete(&mut self, id: &str) -> Result<bool, StoreError> {
        let previous = self.previous(id)?;
        match previous {
            Some((false, _, _, _)) => {
                self.write(id, previous, true, xxh3_128(id.as_bytes()), b"")?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// `(deleted, generation, seq, hash)` of the current version.
    fn previous(&self, id: &str) -> Result<Option<(bool, u32, u64, u128)>, StoreError> {
        let Some(raw) = self.docs.get(id)? else {
            return Ok(None);
        };
        let e = Entry::decode(id, raw.value())?;
        Ok(Some((e.deleted, e.generation, e.seq, e.hash)))
    }

    fn write(
        &mut self,
        id: &str,
        previous: Option<(bool, u32, u64, u128)>,
        deleted: bool,
        hash: u128,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.seq += 1;
        let generation = match previous {
            Some((was_deleted, generation, old_seq, _)) => {
                self.changes.remove(old_seq)?;
                match (was_deleted, deleted) {
                    (true, false) => {
                        self.deleted -= 1;
                        self.count += 1;
                    }
                    (false, true) => {
                        self.count -= 1;
                        self.deleted += 1;
                    }
                    _ => {}
                }
                generation + 1
            }
            None => {
                self.count += 1;
                1
            }
        };
        let entry = Entry {
            deleted,
            generation,
            seq: self.seq,
            hash,
            body,
        };
        entry.encode_into(&mut self.buffer);
        self.docs.insert(id, self.buffer.as_slice())?;
        self.changes.insert(self.seq, id)?;
        self.touched = true;
        Ok(())
    }

    /// Stores the counters; returns the new update seq when anything changed.
    pub fn finish(self, tx: &'t WriteTransaction) -> Result<Option<(Db, u64)>, StoreError> {
        if !self.touched {
            return Ok(None);
        }
        let mut meta = tx.open_table(META)?;
        meta.insert(self.db.seq_key(), self.seq)?;
        meta.insert(self.db.count_key(), self.count)?;
        meta.insert(self.db.deleted_key(), self.deleted)?;
        Ok(Some((self.db, self.seq)))
    }
}

/// What a [`ListWriter::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The same body was already live: no new revision.
    Unchanged,
    /// A live document got a new body.
    Updated,
    /// The document is new (or was deleted) and is live now.
    Created,
}

/// `GET /{db}` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStats {
    pub doc_count: u64,
    pub doc_del_count: u64,
    pub update_seq: u64,
}

/// One page of `_changes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesPage {
    pub rows: Vec<DocRead>,
    pub last_seq: u64,
    /// Updates after `last_seq` (an upper bound: updates later superseded count too).
    pub pending: u64,
}

impl Store {
    /// Applies list changes in one transaction, in order; returns how many changed something.
    pub fn apply(&self, db: Db, changes: &[DocChange]) -> Result<usize, StoreError> {
        let tx = self.database().begin_write()?;
        let mut applied = 0;
        let mut writer = ListWriter::open(&tx, db)?;
        for change in changes {
            let done = match change {
                DocChange::Put { id, body } => {
                    let bytes = serde_json::to_vec(body).unwrap_or_default();
                    writer.put(id, &bytes)? != PutOutcome::Unchanged
                }
                DocChange::Delete { id } => writer.delete(id)?,
            };
            applied += done as usize;
        }
        let published = writer.finish(&tx)?;
        tx.commit()?;
        self.publish(published);
        Ok(applied)
    }

    /// Announces a committed update seq to longpoll waiters.
    pub fn publish(&self, published: Option<(Db, u64)>) {
        if let Some((db, seq)) = published {
            self.publish_seq(db, seq);
        }
    }

    pub fn db_stats(&self, db: Db) -> Result<DbStats, StoreError> {
        let tx = self.database().begin_read()?;
        let meta = tx.open_table(META)?;
        let get = |k: &str| -> Result<u64, StoreError> {
            Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0))
        };
        Ok(DbStats {
            doc_count: get(db.count_key())?,
            doc_del_count: get(db.deleted_key())?,
            update_seq: get(db.seq_key())?,
        })
    }

    pub fn doc(&self, db: Db, id: &str) -> Result<Option<DocRead>, StoreError> {
        let tx = self.database().begin_read()?;
        let docs = tx.open_table(db.docs())?;
        let Some(raw) = docs.get(id)? else {
            return Ok(None);
        };
        DocRead::from_entry(id, &Entry::decode(id, raw.value())?).map(Some)
    }
}
