//! Reading a list database's change feed row by row from one read snapshot: `_changes` writes
//! each row to the body as it is read ([`Store::visit_changes`]), and [`Store::changes`] gathers a
//! page of them.

use std::io::Write;

use redb::ReadableDatabase;

use super::lists::{ChangesPage, Db, DocRead, Entry};
use super::{META, Store};
use crate::error::StoreError;

/// One row of the feed, borrowed from the read snapshot.
pub struct FeedRow<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub deleted: bool,
    entry: Entry<'a>,
}

impl FeedRow<'_> {
    /// Appends the revision (`N-<hash>`).
    pub fn write_rev(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "{}-{:032x}", self.entry.generation, self.entry.hash);
    }

    /// Appends the document with `_id` and `_rev` (and `_deleted` for a deletion) as JSON text.
    pub fn write_doc(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"_id\":");
        let _ = serde_json::to_writer(&mut *out, self.id);
        out.extend_from_slice(b",\"_rev\":\"");
        self.write_rev(out);
        out.push(b'"');
        if self.deleted {
            out.extend_from_slice(b",\"_deleted\":true}");
            return;
        }
        // The body is a JSON object `{...}` as we stored it (checked when the row was read).
        let inner = &self.entry.body[1..self.entry.body.len() - 1];
        if !inner.is_empty() {
            out.push(b',');
            out.extend_from_slice(inner);
        }
        out.push(b'}');
    }

    fn to_doc_read(&self) -> Result<DocRead, StoreError> {
        DocRead::from_entry(self.id, &self.entry)
    }
}

/// Where a pass over the feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedEnd {
    /// The seq to resume from: the last row's when `limit` stopped the pass, else the update seq.
    pub last_seq: u64,
    /// Updates after `last_seq` (an upper bound: updates later superseded count too).
    pub pending: u64,
    /// Rows visited.
    pub rows: usize,
}

impl Store {
    /// Visits the changes after `since` in update order, from one snapshot, at most `limit`
    /// (`None`: all). `visit` returns `false` to stop early (its reader went away).
    pub fn visit_changes(
        &self,
        db: Db,
        since: u64,
        limit: Option<usize>,
        mut visit: impl FnMut(&FeedRow<'_>) -> bool,
    ) -> Result<FeedEnd, StoreError> {
        let tx = self.database().begin_read()?;
        let meta = tx.open_table(META)?;
        let update_seq = meta.get(db.seq_key())?.map(|v| v.value()).unwrap_or(0);
        let changes = tx.open_table(db.changes())?;
        let docs = tx.open_table(db.docs())?;
        let limit = limit.unwrap_or(usize::MAX);
        let mut rows = 0;
        let mut last_row = since;
        if limit > 0 {
            for item in changes.range(since.saturating_add(1)..)? {
                let (_, id) = item?;
                let id = id.value();
                let Some(raw) = docs.get(id)? else {
                    return Err(StoreError::Corrupt {
                        key: id.into(),
                        reason: "change without doc".into(),
                    });
                };
                let entry = Entry::decode(id, raw.value())?;
                entry.check_body(id)?;
                let row = FeedRow {
                    seq: entry.seq,
                    id,
                    deleted: entry.deleted,
                    entry,
                };
                rows += 1;
                last_row = row.seq;
                if !visit(&row) || rows == limit {
                    break;
                }
            }
        }
        let last_seq = if rows == limit { last_row } else { update_seq };
        Ok(FeedEnd {
            last_seq,
            pending: update_seq.saturating_sub(last_seq),
            rows,
        })
    }

    /// Changes after `since`, oldest first, at most `limit`, gathered into one page.
    pub fn changes(&self, db: Db, since: u64, limit: usize) -> Result<ChangesPage, StoreError> {
        let mut rows = Vec::new();
        let mut failure = None;
        let end = self.visit_changes(db, since, Some(limit), |row| match row.to_doc_read() {
            Ok(read) => {
                rows.push(read);
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(ChangesPage {
            rows,
            last_seq: end.last_seq,
            pending: end.pending,
        })
    }
}
