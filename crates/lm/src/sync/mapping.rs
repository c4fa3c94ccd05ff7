//! Mapping of replicated documents (design.md §3) to store changes. Unknown fields are ignored;
//! a document that does not map is counted, never fatal.

use protocol::replication::MinPrice as MinPriceDoc;
use store::{Gtin, KiFingerprint, ListChange, ListDb, MinPrice};

use crate::sync::source::ChangeRow;

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// A change for the store.
    Change(ListChange),
    /// Not a list document (design documents): skipped without counting.
    Skipped,
    /// A list document that does not map; the reason is logged.
    Unmapped(String),
}

/// Maps one `_changes` row of `db`.
pub fn map_change(db: ListDb, change: &ChangeRow) -> Mapped {
    let id = change.id.as_str();
    if id.starts_with("_design/") || id.starts_with("_local/") {
        return Mapped::Skipped;
    }
    if id.is_empty() {
        return Mapped::Unmapped("empty _id".into());
    }
    match db {
        ListDb::BlockedCis => {
            let ki = KiFingerprint::of(id);
            if change.deleted {
                Mapped::Change(ListChange::RemoveKi(ki))
            } else {
                Mapped::Change(ListChange::BlockKi(ki))
            }
        }
        ListDb::BlockedGtin | ListDb::GreyGtin => match Gtin::parse(id) {
            Err(err) => Mapped::Unmapped(err.to_string()),
            Ok(gtin) if change.deleted => Mapped::Change(ListChange::RemoveGtin(gtin)),
            Ok(gtin) => Mapped::Change(ListChange::ListGtin(gtin)),
        },
        ListDb::MinPrice => {
            let gtin = match Gtin::parse(id) {
                Ok(gtin) => gtin,
                Err(err) => return Mapped::Unmapped(err.to_string()),
            };
            if change.deleted {
                return Mapped::Change(ListChange::RemoveGtin(gtin));
            }
            match change.doc_as::<MinPriceDoc>() {
                None => Mapped::Unmapped(format!("{id}: no document (include_docs ignored?)")),
                Some(Err(err)) => Mapped::Unmapped(format!("{id}: {err}")),
                Some(Ok(doc)) => Mapped::Change(ListChange::Price(
                    gtin,
                    MinPrice {
                        mrp: doc.mrp,
                        smp: doc.smp,
                    },
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(value: serde_json::Value) -> ChangeRow {
        serde_json::from_str(&value.to_string()).unwrap()
    }

    #[test]
    fn blocked_ki_and_its_deletion() {
        let ki = "0104850013000162215fUjOs7DMo,Tf";
        let row = change(json!({"seq": 1, "id": ki, "changes": [{"rev": "1-a"}],
            "doc": {"_id": ki, "_rev": "1-a", "gtin": "04850013000162", "extra": 1}}));
        assert_eq!(
            map_change(ListDb::BlockedCis, &row),
            Mapped::Change(ListChange::BlockKi(KiFingerprint::of(ki)))
        );
        let row =
            change(json!({"seq": "2-x", "id": ki, "changes": [{"rev": "2-b"}], "deleted": true}));
        assert_eq!(
            map_change(ListDb::BlockedCis, &row),
            Mapped::Change(ListChange::RemoveKi(KiFingerprint::of(ki)))
        );
    }

    #[test]
    fn min_price_with_optional_prices() {
        let row = change(
            json!({"seq": 3, "id": "04600000000013", "changes": [{"rev": "1-a"}],
            "doc": {"_id": "04600000000013", "_rev": "1-a", "smp": 15300}}),
        );
        let gtin = Gtin::parse("04600000000013").unwrap();
        assert_eq!(
            map_change(ListDb::MinPrice, &row),
            Mapped::Change(ListChange::Price(
                gtin,
                MinPrice {
                    mrp: None,
                    smp: Some(15300)
                }
            ))
        );
    }

    #[test]
    fn bad_documents_are_unmapped_not_fatal() {
        let row =
            change(json!({"seq": 4, "id": "not-a-gtin", "changes": [{"rev": "1-a"}], "doc": {}}));
        assert!(matches!(
            map_change(ListDb::BlockedGtin, &row),
            Mapped::Unmapped(_)
        ));
        let row = change(
            json!({"seq": 5, "id": "04600000000013", "changes": [{"rev": "1-a"}],
            "doc": {"_id": "04600000000013", "mrp": "cheap"}}),
        );
        assert!(matches!(
            map_change(ListDb::MinPrice, &row),
            Mapped::Unmapped(_)
        ));
        let row =
            change(json!({"seq": 6, "id": "_design/app", "changes": [{"rev": "1-a"}], "doc": {}}));
        assert_eq!(map_change(ListDb::GreyGtin, &row), Mapped::Skipped);
    }
}
