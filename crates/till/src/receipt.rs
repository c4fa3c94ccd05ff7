//! Rules over the whole receipt, not one answer (protocol.md §2.4 and the operator's
//! recommended extra checks, MR17 §6): no marking code twice in one receipt, except for goods
//! sold in parts (draft beer kegs, …), whose parts may not add up to more than what is left.
//!
//! Choices where protocol.md says UNCONFIRMED or is silent (also in the session note):
//! * A request with `quantity` is a partial sale: its code may already be in the receipt (other
//!   parts); without `quantity` any earlier entry of the same KI is a duplicate.
//! * What is left is `innerUnitCount − soldUnitCount` from the online answer, minus the parts
//!   already in this receipt. Offline (the module has neither field) or when the online answer
//!   lacks them, only the receipt itself is known: the rest is not checked and a note says so.
//! * A partially sold keg with `sold=true` is still refused by case 3 (the table is not changed
//!   here; whether "multiple sales" must block it is UNCONFIRMED).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::decision::Violation;

/// An item already on the receipt being assembled, as the till passes it with a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptItem {
    /// The scanned code (KM) or the KI of that item.
    pub km: String,
    /// For a partial sale: how much of it (units of `innerUnitCount`: ml, g, pieces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
}

/// What the receipt rules need of one check: this code's KI and quantity, the KIs already on
/// the receipt, and the unit counters of the online answer when there was one.
#[derive(Debug, Clone)]
pub struct ReceiptCheck<'a> {
    pub ki: &'a str,
    pub quantity: Option<u64>,
    /// KI → the quantities of its earlier entries (`None` for a whole-item entry).
    pub earlier: &'a BTreeMap<String, Vec<Option<u64>>>,
    pub inner_unit_count: Option<u64>,
    pub sold_unit_count: Option<u64>,
}

/// The receipt's earlier entries by KI. Items must have been validated (`marking::ki`).
pub fn earlier_entries(items: &[ReceiptItem]) -> BTreeMap<String, Vec<Option<u64>>> {
    let mut earlier: BTreeMap<String, Vec<Option<u64>>> = BTreeMap::new();
    for item in items {
        if let Ok(ki) = marking::ki(&item.km) {
            earlier.entry(ki).or_default().push(item.quantity);
        }
    }
    earlier
}

/// Violations of the receipt rules, and remarks on what could not be checked.
pub fn receipt_rules(check: &ReceiptCheck<'_>) -> (Vec<Violation>, Vec<String>) {
    let mut violations = Vec::new();
    let mut notes = Vec::new();
    let earlier = check
        .earlier
        .get(check.ki)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(quantity) = check.quantity else {
        if !earlier.is_empty() {
            violations.push(Violation {
                case: 0,
                code: "duplicate_in_receipt",
                message: "This code is already in the receipt: the same item cannot be sold twice"
                    .into(),
                data: json!({"ki": check.ki, "timesInReceipt": earlier.len()}),
            });
        }
        return (violations, notes);
    };
    // Parts already on the receipt; a whole-item entry of the same code leaves nothing.
    let whole_earlier = earlier.iter().any(Option::is_none);
    let in_receipt: u64 = earlier.iter().flatten().sum();
    if whole_earlier {
        violations.push(Violation {
            case: 0,
            code: "duplicate_in_receipt",
            message: "This code is already in the receipt as a whole item: no part of it is left"
                .into(),
            data: json!({"ki": check.ki, "quantity": quantity}),
        });
        return (violations, notes);
    }
    match (check.inner_unit_count, check.sold_unit_count) {
        (Some(inner), sold) => {
            let sold = sold.unwrap_or(0);
            let rest = inner.saturating_sub(sold).saturating_sub(in_receipt);
            if quantity > rest {
                violations.push(Violation {
                    case: 0,
                    code: "partial_sale_exceeds_rest",
                    message: format!(
                        "Only {rest} left of this item ({inner} in all, {sold} sold, {in_receipt} already in this receipt): cannot sell {quantity}"
                    ),
                    data: json!({"ki": check.ki, "quantity": quantity, "innerUnitCount": inner,
                                 "soldUnitCount": sold, "inReceipt": in_receipt, "rest": rest}),
                });
            }
        }
        (None, _) => notes.push(
            "partial sale: the rest of the item was not checked (no innerUnitCount from an online answer)"
                .into(),
        ),
    }
    (violations, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row: this check's quantity, the earlier entries of the same KI, the online counters,
    /// and the expected violation codes.
    struct Row {
        name: &'static str,
        quantity: Option<u64>,
        earlier: &'static [Option<u64>],
        inner: Option<u64>,
        sold: Option<u64>,
        expect: &'static [&'static str],
        note: bool,
    }

    const ROWS: &[Row] = &[
        Row {
            name: "first whole item",
            quantity: None,
            earlier: &[],
            inner: None,
            sold: None,
            expect: &[],
            note: false,
        },
        Row {
            name: "same code again",
            quantity: None,
            earlier: &[None],
            inner: None,
            sold: None,
            expect: &["duplicate_in_receipt"],
            note: false,
        },
        Row {
            name: "whole after a part",
            quantity: None,
            earlier: &[Some(500)],
            inner: Some(50_000),
            sold: Some(0),
            expect: &["duplicate_in_receipt"],
            note: false,
        },
        Row {
            name: "part after the whole item",
            quantity: Some(500),
            earlier: &[None],
            inner: Some(50_000),
            sold: Some(0),
            expect: &["duplicate_in_receipt"],
            note: false,
        },
        Row {
            name: "first part within rest",
            quantity: Some(500),
            earlier: &[],
            inner: Some(50_000),
            sold: Some(49_000),
            expect: &[],
            note: false,
        },
        Row {
            name: "part exactly the rest",
            quantity: Some(1_000),
            earlier: &[],
            inner: Some(50_000),
            sold: Some(49_000),
            expect: &[],
            note: false,
        },
        Row {
            name: "part over the rest",
            quantity: Some(1_001),
            earlier: &[],
            inner: Some(50_000),
            sold: Some(49_000),
            expect: &["partial_sale_exceeds_rest"],
            note: false,
        },
        Row {
            name: "second part within rest",
            quantity: Some(500),
            earlier: &[Some(500)],
            inner: Some(50_000),
            sold: Some(49_000),
            expect: &[],
            note: false,
        },
        Row {
            name: "parts add up over the rest",
            quantity: Some(500),
            earlier: &[Some(300), Some(300)],
            inner: Some(50_000),
            sold: Some(49_000),
            expect: &["partial_sale_exceeds_rest"],
            note: false,
        },
        Row {
            name: "sold counter absent reads 0",
            quantity: Some(50_000),
            earlier: &[],
            inner: Some(50_000),
            sold: None,
            expect: &[],
            note: false,
        },
        Row {
            name: "oversold counter leaves nothing",
            quantity: Some(1),
            earlier: &[],
            inner: Some(100),
            sold: Some(120),
            expect: &["partial_sale_exceeds_rest"],
            note: false,
        },
        Row {
            name: "offline: rest unknown",
            quantity: Some(500),
            earlier: &[Some(500)],
            inner: None,
            sold: None,
            expect: &[],
            note: true,
        },
    ];

    #[test]
    fn receipt_rules_table() {
        for row in ROWS {
            let mut earlier = BTreeMap::new();
            earlier.insert("KI".to_owned(), row.earlier.to_vec());
            earlier.insert("OTHER".to_owned(), vec![None]);
            let check = ReceiptCheck {
                ki: "KI",
                quantity: row.quantity,
                earlier: &earlier,
                inner_unit_count: row.inner,
                sold_unit_count: row.sold,
            };
            let (violations, notes) = receipt_rules(&check);
            let codes: Vec<&str> = violations.iter().map(|v| v.code).collect();
            assert_eq!(codes, row.expect, "{}", row.name);
            assert_eq!(!notes.is_empty(), row.note, "{}: {notes:?}", row.name);
            for v in &violations {
                assert!(!v.message.is_empty(), "{}", row.name);
                assert_eq!(v.data["ki"], "KI", "{}", row.name);
            }
        }
    }

    #[test]
    fn rest_is_named_in_the_message() {
        let earlier = BTreeMap::from([("KI".to_owned(), vec![Some(300)])]);
        let check = ReceiptCheck {
            ki: "KI",
            quantity: Some(800),
            earlier: &earlier,
            inner_unit_count: Some(50_000),
            sold_unit_count: Some(49_000),
        };
        let (violations, _) = receipt_rules(&check);
        assert_eq!(violations[0].data["rest"], 700);
        assert!(violations[0].message.contains("Only 700 left"));
    }
}
