//! `_local` documents (replication checkpoints): stored per database, never replicated.

use redb::{ReadableDatabase, ReadableTable};
use serde_json::{Map, Value};

use super::{Db, Store, decode_json};
use crate::error::StoreError;

/// Result of writing a `_local` doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalPut {
    /// Stored with this new revision.
    Written { rev: String },
    /// The body's `_rev` is not the stored revision (`None`: no such doc / no `_rev` given), as
    /// when two replicators share a checkpoint id; nothing was written.
    Conflict {
        given: Option<String>,
        stored: Option<String>,
    },
}

impl Store {
    /// A `_local` doc with its `_id` (`_local/…`) and `_rev`.
    pub fn local_doc(&self, db: Db, id: &str) -> Result<Option<Map<String, Value>>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(db.local())?;
        let Some(raw) = table.get(id)? else {
            return Ok(None);
        };
        decode_json(id, raw.value()).map(Some)
    }

    /// Stores a `_local` doc when its `_rev` is the stored revision (absent for a new doc), as
    /// CouchDB does; otherwise answers [`LocalPut::Conflict`].
    pub fn put_local_doc(
        &self,
        db: Db,
        id: &str,
        mut body: Map<String, Value>,
    ) -> Result<LocalPut, StoreError> {
        let tx = self.database().begin_write()?;
        let rev;
        {
            let mut table = tx.open_table(db.local())?;
            let previous: Option<Map<String, Value>> = match table.get(id)? {
                Some(raw) => Some(decode_json(id, raw.value())?),
                None => None,
            };
            let stored = previous
                .as_ref()
                .and_then(|p| p.get("_rev"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let given = body.get("_rev").and_then(Value::as_str).map(str::to_string);
            if given != stored {
                return Ok(LocalPut::Conflict { given, stored });
            }
            let generation = stored
                .as_deref()
                .and_then(|r| r.strip_prefix("0-"))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            rev = format!("0-{}", generation + 1);
            body.insert("_id".into(), Value::String(format!("_local/{id}")));
            body.insert("_rev".into(), Value::String(rev.clone()));
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            table.insert(id, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(LocalPut::Written { rev })
    }
}
