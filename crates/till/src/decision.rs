//! The sale decision (protocol.md §2.2–2.4): the operator's twelve prohibition cases applied to
//! an online answer, and the subset a local-module answer allows. Pure functions: the sale
//! price and the local check time are inputs.

use marking::MarkingCode;
use marking::group::{NCP, OTP, TOBACCO};
use protocol::lm::ModuleCode;
use protocol::true_api::{CodeInfo, package_type};
use serde::Serialize;
use serde_json::{Value, json};
use time::PrimitiveDateTime;
use time::macros::format_description;

/// Groups with the expiry check, case 6: dairy, beer, water, soft drinks, dietary supplements,
/// antiseptics, vet drugs, pet food, vegetable oils, canned food, non-alcoholic beer, caviar,
/// medical devices, grocery, motor oils, cosmetics and household chemicals.
pub const EXPIRY_GROUPS: &[u16] = &[
    8, 10, 13, 15, 17, 19, 20, 21, 22, 23, 26, 32, 33, 35, 37, 43,
];
/// Groups where a block by `RD` (permit documents revoked) is case 11: water, beer, clothing,
/// perfume, tyres.
pub const PERMIT_GROUPS: &[u16] = &[1, 4, 5, 13, 15];
/// Groups where a block by `VETRF` (veterinary document annulled) is case 12: dairy, canned
/// food, caviar, pet food.
pub const VETERINARY_GROUPS: &[u16] = &[8, 20, 21, 32];

/// What the till sells: the scanned code, its group, the price and the local time of the check.
#[derive(Debug, Clone)]
pub struct Sale<'a> {
    pub code: &'a MarkingCode,
    /// Product group: from the online answer, the till, or the code's structure.
    pub pg: Option<u16>,
    /// Sale price of this item in kopecks, after discounts. `None`: price rules not checked.
    pub price: Option<u64>,
    /// Local wall-clock time of the check (the shop's time zone, no offset).
    pub local_time: PrimitiveDateTime,
}

/// One violated prohibition case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Row of the operator's table (protocol.md §2.2), 1–12; 0 for the module's grey-list
    /// refusal, which the table does not number.
    pub case: u8,
    /// Stable machine name of the case.
    pub code: &'static str,
    /// What to tell the cashier.
    pub message: String,
    /// The source fields the case was decided on.
    pub data: Value,
}

/// The verdict on one answer: every violated case, plus remarks that do not forbid.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn allows(&self) -> bool {
        self.violations.is_empty()
    }

    fn forbid(&mut self, case: u8, code: &'static str, message: String, data: Value) {
        self.violations.push(Violation {
            case,
            code,
            message,
            data,
        });
    }
}

/// The product group an online answer names (first of `groupIds`).
pub fn online_group(info: &CodeInfo) -> Option<u16> {
    info.group_ids
        .as_ref()
        .and_then(|ids| ids.first())
        .and_then(|&id| u16::try_from(id).ok())
}

/// Decides on an online `codes/check` item (protocol.md §2.3, online part).
pub fn decide_online(info: &CodeInfo, sale: &Sale<'_>) -> Verdict {
    let mut v = Verdict::default();
    let pg = sale.pg;
    let sold = info.sold.unwrap_or(false);
    if !info.found || !info.utilised {
        let message = if !info.found {
            "Code not found in the national system: sale forbidden".to_owned()
        } else {
            "Code was issued but never applied to goods: sale forbidden".to_owned()
        };
        v.forbid(
            1,
            "no_data",
            message,
            json!({"found": info.found, "utilised": info.utilised, "errorCode": info.error_code}),
        );
    }
    if !info.verified {
        v.forbid(
            2,
            "not_verified",
            "Code failed verification (forged or damaged code): sale forbidden".to_owned(),
            json!({"verified": false, "errorCode": info.error_code}),
        );
    }
    if sold {
        v.forbid(
            3,
            "withdrawn",
            "Item already withdrawn from circulation (sold earlier): sale forbidden".to_owned(),
            json!({"sold": true, "eliminationState": info.elimination_state}),
        );
    }
    if info.is_blocked == Some(true) {
        blocked(&mut v, pg, info.ogvs.as_deref().unwrap_or_default());
    }
    let gray_waiver = pg == Some(TOBACCO) && info.gray_zone == Some(true);
    if !info.realizable && !sold && !gray_waiver {
        v.forbid(
            5,
            "not_in_circulation",
            "No record of this item being put into circulation: sale forbidden".to_owned(),
            json!({"realizable": false, "sold": sold, "grayZone": info.gray_zone}),
        );
    }
    if let (Some(pg), Some(expire)) = (pg, info.expire_date.as_deref())
        && EXPIRY_GROUPS.contains(&pg)
    {
        expiry(&mut v, expire, sale.local_time);
    }
    let block_quantity = info.package_quantity.filter(|_| is_block(info, sale.code));
    prices(&mut v, sale, info.mrp, info.smp, block_quantity, true);
    if let Some(code) = info.error_code.filter(|&c| c != 0 && c != 10) {
        v.notes.push(format!(
            "the service reported errorCode {code} ({}) without a failed flag",
            protocol::true_api::ErrorCode::from_code(code).map_or("unknown", |e| e.meaning())
        ));
    }
    if !info.valid {
        v.notes
            .push("the service marked the code structure invalid (valid=false)".to_owned());
    }
    v
}

/// Decides on a local-module item (protocol.md §2.3, offline part). The module knows only
/// blocks, minimum prices and its own sold DB.
pub fn decide_offline(code_answer: &ModuleCode, sale: &Sale<'_>) -> Verdict {
    let mut v = Verdict::default();
    if code_answer.sold == Some(true) {
        v.forbid(
            3,
            "repeat_sale",
            "This code was already sold in this shop (local sold list): repeat sale forbidden"
                .to_owned(),
            json!({"sold": true}),
        );
    }
    if code_answer.is_blocked && code_answer.is_grey_gtin {
        v.forbid(
            0,
            "grey_gtin_online_only",
            "This product can only be checked online (grey GTIN list): sale forbidden while offline"
                .to_owned(),
            json!({"isBlocked": true, "isGreyGtin": true, "gtin": code_answer.gtin}),
        );
    } else if code_answer.is_blocked {
        v.forbid(
            4,
            "blocked",
            "Sale of this item is blocked by an authority decision: sale forbidden".to_owned(),
            json!({"isBlocked": true}),
        );
    }
    // The module sends `mrp` for NCP only and `smp` for every code (LM 2.6): `prices` applies
    // each only in its group.
    prices(
        &mut v,
        sale,
        code_answer.mrp.flatten(),
        code_answer.smp,
        None,
        false,
    );
    v
}

fn blocked(v: &mut Verdict, pg: Option<u16>, ogvs: &[String]) {
    let has = |who: &str| ogvs.iter().any(|o| o == who);
    let in_scope = |groups: &[u16]| pg.is_some_and(|pg| groups.contains(&pg));
    if has("RD") && in_scope(PERMIT_GROUPS) {
        v.forbid(
            11,
            "permit_revoked",
            "Permit documents for this item are revoked or invalid: sale forbidden".to_owned(),
            json!({"isBlocked": true, "ogvs": ogvs}),
        );
    }
    if has("VETRF") && in_scope(VETERINARY_GROUPS) {
        v.forbid(
            12,
            "vet_document_annulled",
            "The veterinary certificate of this item is annulled: sale forbidden".to_owned(),
            json!({"isBlocked": true, "ogvs": ogvs}),
        );
    }
    let specific = v.violations.iter().any(|x| x.case == 11 || x.case == 12);
    if !specific {
        let who = if ogvs.is_empty() {
            String::new()
        } else {
            format!(" ({})", ogvs.join(", "))
        };
        v.forbid(
            4,
            "blocked",
            format!("Sale of this item is blocked by an authority decision{who}: sale forbidden"),
            json!({"isBlocked": true, "ogvs": ogvs}),
        );
    }
}

fn expiry(v: &mut Verdict, expire: &str, local_time: PrimitiveDateTime) {
    match parse_local(expire) {
        Some(expires) if local_time >= expires => v.forbid(
            6,
            "expired",
            format!("Shelf life ended {expires}: sale forbidden"),
            json!({"expireDate": expire, "checkedAt": local_time.to_string()}),
        ),
        Some(_) => {}
        None => v
            .notes
            .push(format!("expiry date {expire:?} unreadable: not checked")),
    }
}

/// Reads `yyyy-MM-ddTHH:mm:ss[.SSS][Z]` as a wall-clock time: the guide compares it with the
/// local check time without time-zone conversion.
pub fn parse_local(text: &str) -> Option<PrimitiveDateTime> {
    let full = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let date_only = format_description!("[year]-[month]-[day]");
    match text.get(..19) {
        Some(prefix) => PrimitiveDateTime::parse(prefix, &full).ok(),
        None => time::Date::parse(text.get(..10)?, &date_only)
            .ok()
            .map(|d| d.midnight()),
    }
}

/// A tobacco block (group pack): AI 8005 in the code or `packageType` `GROUP`.
fn is_block(info: &CodeInfo, code: &MarkingCode) -> bool {
    code.value_of("8005").is_some() || info.package_type.as_deref() == Some(package_type::GROUP)
}

fn rub(kopecks: u64) -> String {
    format!("{}.{:02} RUB", kopecks / 100, kopecks % 100)
}

/// Cases 7–10. `mrp` means a minimum price for groups 16 and 12; the tobacco maximum comes
/// from the code itself. `smp` (ЕМЦ) applies to tobacco only.
fn prices(
    v: &mut Verdict,
    sale: &Sale<'_>,
    mrp: Option<u64>,
    smp: Option<u64>,
    block_quantity: Option<u32>,
    online: bool,
) {
    let Some(price) = sale.price else {
        if matches!(sale.pg, Some(TOBACCO | NCP | OTP)) {
            v.notes
                .push("no sale price given: price rules not checked".to_owned());
        }
        return;
    };
    match sale.pg {
        Some(TOBACCO) => {
            if let Some(code_mrp) = sale.code.mrp().map(u64::from)
                && price != code_mrp
            {
                v.forbid(
                    7,
                    "price_not_mrp",
                    format!(
                        "Tobacco must be sold at the printed maximum retail price {} (price {}); discounts are not allowed",
                        rub(code_mrp),
                        rub(price)
                    ),
                    json!({"mrpFromCode": code_mrp, "price": price}),
                );
            }
            if let Some(smp) = smp {
                let quantity = u64::from(block_quantity.unwrap_or(1).max(1));
                let minimum = smp.saturating_mul(quantity);
                if price < minimum {
                    let per = if quantity > 1 {
                        format!(" ({quantity} packs × {})", rub(smp))
                    } else {
                        String::new()
                    };
                    v.forbid(
                        8,
                        "below_single_minimum_price",
                        format!(
                            "Price {} is below the single minimum price {}{per}: sale forbidden",
                            rub(price),
                            rub(minimum)
                        ),
                        json!({"smp": smp, "packageQuantity": block_quantity, "price": price}),
                    );
                }
            }
        }
        Some(pg @ (NCP | OTP)) if online || pg == NCP => {
            if let Some(mrp) = mrp
                && price < mrp
            {
                let (case, code) = if pg == NCP {
                    (9, "below_minimum_price_ncp")
                } else {
                    (10, "below_minimum_price_otp")
                };
                v.forbid(
                    case,
                    code,
                    format!(
                        "Price {} is below the minimum price {}: sale forbidden",
                        rub(price),
                        rub(mrp)
                    ),
                    json!({"mrp": mrp, "price": price}),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
