//! Minimum prices per time zone (`admin price --zone`): `codes/check` with `timeZone` answers
//! them for tobacco `smp` and nicotine / alternative tobacco `mrp` (protocol.md §1.6). They are
//! the operator's, not a list: the `min_price` feed carries only the default prices.

use redb::{ReadableDatabase, TableDefinition};
use serde_json::{Map, Value};

use super::{Store, decode_json, encode_json};
use crate::error::StoreError;

pub(super) const ZONE_PRICES: TableDefinition<&str, &[u8]> = TableDefinition::new("zone_prices");

fn key(gtin: &str, zone: u8) -> String {
    format!("{gtin}/{zone}")
}

impl Store {
    /// Sets (or, with `None`, withdraws) the prices of `gtins` in time zone `zone`; returns how
    /// many GTINs changed.
    pub fn set_zone_prices(
        &self,
        gtins: &[String],
        zone: u8,
        prices: Option<&Map<String, Value>>,
    ) -> Result<usize, StoreError> {
        let tx = self.database().begin_write()?;
        let mut changed = 0;
        {
            let mut table = tx.open_table(ZONE_PRICES)?;
            for gtin in gtins {
                let key = key(gtin, zone);
                let before = match prices {
                    Some(prices) => table.insert(key.as_str(), encode_json(prices).as_slice())?,
                    None => table.remove(key.as_str())?,
                }
                .map(|old| old.value().to_vec());
                let after = prices.map(encode_json);
                if before != after {
                    changed += 1;
                }
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The prices of `gtin` in time zone `zone`, when set.
    pub fn zone_prices(
        &self,
        gtin: &str,
        zone: u8,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(ZONE_PRICES)?;
        let key = key(gtin, zone);
        match table.get(key.as_str())? {
            Some(raw) => decode_json(&key, raw.value()).map(Some),
            None => Ok(None),
        }
    }
}
