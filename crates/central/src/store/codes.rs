//! The code database: every issued code keyed by its KI, with what `codes/check` reports about it.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use super::{CODES, Store, decode_json, encode_json};
use crate::error::StoreError;
use crate::faults::Fault;

/// Life-cycle status of a code at the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Issued, not yet applied to the goods: `utilised=false`.
    Emitted,
    /// Applied, not yet introduced into circulation: `utilised=true, realizable=false`.
    Applied,
    /// In circulation: may be sold.
    #[default]
    Introduced,
    /// Withdrawn from circulation (sold): `sold=true`.
    Sold,
}

impl Status {
    pub const NAMES: &'static str = "emitted, applied, introduced, sold";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "emitted" => Some(Self::Emitted),
            "applied" => Some(Self::Applied),
            "introduced" => Some(Self::Introduced),
            "sold" => Some(Self::Sold),
            _ => None,
        }
    }
}

/// `packageType` of a code (protocol.md §1.10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackageKind {
    #[default]
    Unit,
    Group,
    Bundle,
    ProductSet,
}

impl PackageKind {
    pub fn wire(self) -> &'static str {
        use protocol::true_api::package_type as p;
        match self {
            Self::Unit => p::UNIT,
            Self::Group => p::GROUP,
            Self::Bundle => p::BUNDLE,
            Self::ProductSet => p::PRODUCT_SET,
        }
    }

    fn is_unit(&self) -> bool {
        *self == Self::Unit
    }
}

/// What the operator knows about one code. Stored as compact JSON (short keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Product group id (§1.9).
    #[serde(rename = "g")]
    pub pg: u16,
    #[serde(rename = "s", default)]
    pub status: Status,
    /// When not empty, exactly these KMs pass the signature check (the guide's sandbox codes);
    /// otherwise the emulator's own signature over the code is checked.
    #[serde(rename = "k", default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_kms: Vec<String>,
    /// Expiry, ms since the epoch (UTC).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expire_ms: Option<i64>,
    /// Production date, ms since the epoch (UTC).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub produced_ms: Option<i64>,
    /// INN of the current owner (`isOwner` compares it with the caller's INN).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub owner_inn: Option<String>,
    #[serde(rename = "pi", default, skip_serializing_if = "Option::is_none")]
    pub producer_inn: Option<String>,
    #[serde(rename = "t", default, skip_serializing_if = "PackageKind::is_unit")]
    pub package: PackageKind,
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub package_quantity: Option<u32>,
    #[serde(rename = "iu", default, skip_serializing_if = "Option::is_none")]
    pub inner_unit_count: Option<u64>,
    #[serde(rename = "su", default, skip_serializing_if = "Option::is_none")]
    pub sold_unit_count: Option<u64>,
    /// Dairy variable weight, grams (`productWeight`).
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub product_weight: Option<u32>,
    /// Tobacco «серая зона».
    #[serde(rename = "z", default, skip_serializing_if = "std::ops::Not::not")]
    pub gray_zone: bool,
    /// A fault the CDN answers with whenever this code is checked (sandbox cases 11–15).
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// Why a partial sale was refused: the code (its place in the request) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitsRefused {
    pub index: usize,
    pub ki: String,
    pub reason: String,
}

impl Store {
    /// Inserts or replaces codes in one transaction.
    pub fn put_codes(&self, codes: &[(String, CodeRecord)]) -> Result<(), StoreError> {
        let tx = self.database().begin_write()?;
        {
            let mut table = tx.open_table(CODES)?;
            for (ki, record) in codes {
                table.insert(ki.as_str(), encode_json(record).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn code(&self, ki: &str) -> Result<Option<CodeRecord>, StoreError> {
        let tx = self.database().begin_read()?;
        let table = tx.open_table(CODES)?;
        let Some(raw) = table.get(ki)? else {
            return Ok(None);
        };
        decode_json(ki, raw.value()).map(Some)
    }

    /// Applies `change` to each known code in one transaction; returns the KIs not found.
    pub fn update_codes(
        &self,
        kis: &[String],
        mut change: impl FnMut(&mut CodeRecord),
    ) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        let tx = self.database().begin_write()?;
        {
            let mut table = tx.open_table(CODES)?;
            for ki in kis {
                let current = match table.get(ki.as_str())? {
                    Some(raw) => decode_json::<CodeRecord>(ki, raw.value())?,
                    None => {
                        missing.push(ki.clone());
                        continue;
                    }
                };
                let mut record = current;
                change(&mut record);
                table.insert(ki.as_str(), encode_json(&record).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(missing)
    }

    /// Sells `units` of each code in one transaction, all or nothing: every code must be known,
    /// carry `innerUnitCount` and have that much left (`innerUnitCount − soldUnitCount`). A code
    /// whose last units go is withdrawn (`sold=true`). `Ok(Err(refusal))` names the first code
    /// that cannot be sold so; nothing is written then.
    pub fn sell_units(
        &self,
        kis: &[String],
        units: u64,
    ) -> Result<Result<(), UnitsRefused>, StoreError> {
        let tx = self.database().begin_write()?;
        {
            let mut table = tx.open_table(CODES)?;
            for (index, ki) in kis.iter().enumerate() {
                let refuse = |reason: String| {
                    Ok(Err(UnitsRefused {
                        index,
                        ki: ki.clone(),
                        reason,
                    }))
                };
                let mut record = match table.get(ki.as_str())? {
                    Some(raw) => decode_json::<CodeRecord>(ki, raw.value())?,
                    None => return refuse("not issued by this emulator".into()),
                };
                let Some(inner) = record.inner_unit_count else {
                    return refuse("has no innerUnitCount: sell it whole".into());
                };
                let sold = record.sold_unit_count.unwrap_or(0);
                let left = inner.saturating_sub(sold);
                if record.status == Status::Sold || units > left {
                    return refuse(format!(
                        "{left} of {inner} left ({sold} sold): cannot sell {units}"
                    ));
                }
                record.sold_unit_count = Some(sold + units);
                if sold + units == inner {
                    record.status = Status::Sold;
                }
                table.insert(ki.as_str(), encode_json(&record).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn code_count(&self) -> Result<u64, StoreError> {
        let tx = self.database().begin_read()?;
        Ok(tx.open_table(CODES)?.len()?)
    }
}
