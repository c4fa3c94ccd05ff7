//! The emulator's embedded store (redb, one file in the data directory): participants and tokens,
//! LM registrations, the code database, and the four list databases with their change feeds.
//!
//! Every method is blocking; async callers go through [`Store::blocking`].

mod blocks;
mod codes;
mod feed;
mod knobs;
mod lists;
mod local;
mod zones;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use codes::{CodeRecord, PackageKind, Status, UnitsRefused};
pub use feed::{FeedEnd, FeedRow};
pub use knobs::Knobs;
pub use lists::{ChangesPage, Db, DbStats, DocChange, DocRead, ListWriter, PutOutcome};
pub use local::LocalPut;

use crate::error::StoreError;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const TOKENS: TableDefinition<&str, &str> = TableDefinition::new("tokens");
const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");
const CODES: TableDefinition<&str, &[u8]> = TableDefinition::new("codes");

/// A module registration: the Basic credentials handed out and whom they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub inst: String,
    pub inn: String,
    pub password: String,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Secret of this emulator's "crypto": signatures of issued codes are derived from it.
    seed: u64,
    /// Latest update seq of each list database, for longpoll waiters.
    seqs: [watch::Sender<u64>; 4],
}

impl Store {
    /// Opens (or creates) `dir/central.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = Database::create(dir.join("central.redb"))?;
        let tx = db.begin_write()?;
        let seed;
        let mut seqs = Vec::with_capacity(4);
        {
            let mut meta = tx.open_table(META)?;
            let stored = meta.get("seed")?.map(|v| v.value());
            seed = match stored {
                Some(s) => s,
                None => {
                    let s = rand::random::<u64>();
                    meta.insert("seed", s)?;
                    s
                }
            };
            for db in Db::ALL {
                let seq = meta.get(db.seq_key())?.map(|v| v.value()).unwrap_or(0);
                seqs.push(watch::Sender::new(seq));
            }
            tx.open_table(TOKENS)?;
            tx.open_table(REGISTRATIONS)?;
            tx.open_table(CODES)?;
            tx.open_table(knobs::KNOBS)?;
            tx.open_table(zones::ZONE_PRICES)?;
            lists::create_tables(&tx)?;
        }
        tx.commit()?;
        let seqs: [watch::Sender<u64>; 4] = seqs.try_into().map_err(|_| StoreError::Corrupt {
            key: "meta".into(),
            reason: "database count".into(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner { db, seed, seqs }),
        })
    }

    /// Runs blocking store work off the async threads.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Watches the update seq of `db` (longpoll waits on it).
    pub fn watch_seq(&self, db: Db) -> watch::Receiver<u64> {
        self.inner.seqs[db as usize].subscribe()
    }

    fn publish_seq(&self, db: Db, seq: u64) {
        self.inner.seqs[db as usize].send_replace(seq);
    }

    fn database(&self) -> &Database {
        &self.inner.db
    }

    pub fn add_token(&self, token: &str, inn: &str) -> Result<(), StoreError> {
        let tx = self.database().begin_write()?;
        tx.open_table(TOKENS)?.insert(token, inn)?;
        tx.commit()?;
        Ok(())
    }

    /// The INN a token was issued to, `None` for a token the emulator did not issue.
    pub fn token_inn(&self, token: &str) -> Result<Option<String>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(TOKENS)?;
        Ok(table.get(token)?.map(|v| v.value().to_string()))
    }

    pub fn add_registration(&self, username: &str, reg: &Registration) -> Result<(), StoreError> {
        let body = encode_json(reg);
        let tx = self.database().begin_write()?;
        tx.open_table(REGISTRATIONS)?
            .insert(username, body.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Every issued token with its INN.
    pub fn tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(TOKENS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (token, inn) = item?;
            out.push((token.value().to_string(), inn.value().to_string()));
        }
        Ok(out)
    }

    /// Every module registration by username.
    pub fn registrations(&self) -> Result<Vec<(String, Registration)>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(REGISTRATIONS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (user, raw) = item?;
            let user = user.value().to_string();
            let reg = decode_json(&user, raw.value())?;
            out.push((user, reg));
        }
        Ok(out)
    }

    pub fn registration(&self, username: &str) -> Result<Option<Registration>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(REGISTRATIONS)?;
        let Some(raw) = table.get(username)? else {
            return Ok(None);
        };
        decode_json(username, raw.value()).map(Some)
    }
}

fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode_json<T: for<'de> Deserialize<'de>>(key: &str, raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
