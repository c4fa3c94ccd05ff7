//! The fault knobs and emergency mode, kept so that a restarted emulator misbehaves as before.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{Store, decode_json, encode_json};
use crate::chaos::ChaosSettings;
use crate::error::StoreError;
use crate::faults::Fault;

pub(super) const KNOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("knobs");
const EMERGENCY: &str = "emergency";
const CHAOS: &str = "chaos";

fn host_key(index: usize) -> String {
    format!("host/{index}")
}

/// The stored knobs: the fault of each host (0-based) that has one, and emergency mode.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Knobs {
    pub faults: Vec<(usize, Fault)>,
    pub emergency: bool,
}

impl Store {
    pub fn knobs(&self) -> Result<Knobs, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(KNOBS)?;
        let mut knobs = Knobs::default();
        for item in table.iter()? {
            let (key, raw) = item?;
            let key = key.value();
            if key == EMERGENCY {
                knobs.emergency = decode_json(key, raw.value())?;
            } else if let Some(index) = key.strip_prefix("host/") {
                let index = index.parse().map_err(|_| StoreError::Corrupt {
                    key: key.to_string(),
                    reason: "host number".into(),
                })?;
                knobs.faults.push((index, decode_json(key, raw.value())?));
            }
        }
        Ok(knobs)
    }

    /// Stores the fault of host `index` (0-based); `None` removes it.
    pub fn save_fault(&self, index: usize, fault: Option<Fault>) -> Result<(), StoreError> {
        let tx = self.database().begin_write()?;
        {
            let mut table = tx.open_table(KNOBS)?;
            let key = host_key(index);
            match fault {
                Some(fault) => {
                    table.insert(key.as_str(), encode_json(&fault).as_slice())?;
                }
                None => {
                    table.remove(key.as_str())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn save_emergency(&self, on: bool) -> Result<(), StoreError> {
        let tx = self.database().begin_write()?;
        tx.open_table(KNOBS)?
            .insert(EMERGENCY, encode_json(&on).as_slice())?;
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    /// The replication chaos settings in force when last set (`None`: off).
    pub fn chaos(&self) -> Result<Option<ChaosSettings>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(KNOBS)?;
        match table.get(CHAOS)? {
            Some(raw) => decode_json(CHAOS, raw.value()),
            None => Ok(None),
        }
    }

    /// Stores the replication chaos settings (with the seed in use); `None` removes them.
    pub fn save_chaos(&self, settings: Option<&ChaosSettings>) -> Result<(), StoreError> {
        let tx = self.database().begin_write()?;
        {
            let mut table = tx.open_table(KNOBS)?;
            match settings {
                Some(settings) => {
                    table.insert(CHAOS, encode_json(&Some(settings)).as_slice())?;
                }
                None => {
                    table.remove(CHAOS)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
