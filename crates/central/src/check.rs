//! `codes/check` answers computed from the code database (protocol.md §1.6–1.8).

use marking::{CodeError, MarkingCode};
use protocol::true_api::{CodeInfo, ErrorCode};
use serde_json::Value;

use crate::crypto::{self, Verdict};
use crate::error::StoreError;
use crate::faults::Fault;
use crate::store::{Db, Status, Store};

/// Groups whose `isTracking` is always true (protocol.md §1.7).
const TRACKED: [u16; 8] = [3, 12, 16, 2, 1, 5, 6, 4];

/// Time zone of a request without `timeZone`: Moscow (protocol.md §1.6).
pub const DEFAULT_TIME_ZONE: u8 = 2;

/// The answer for each requested code, and the first per-code fault among them. `time_zone`
/// (1–11, FFD tag 1011) picks zone prices set with `admin price --zone`.
pub fn check_codes(
    store: &Store,
    codes: &[String],
    caller_inn: &str,
    time_zone: u8,
) -> Result<(Vec<CodeInfo>, Option<Fault>), StoreError> {
    let mut fault = None;
    let mut answers = Vec::with_capacity(codes.len());
    for input in codes {
        let (info, code_fault) = check_one(store, input, caller_inn, time_zone)?;
        fault = fault.or(code_fault);
        answers.push(info);
    }
    Ok((answers, fault))
}

fn check_one(
    store: &Store,
    input: &str,
    caller_inn: &str,
    time_zone: u8,
) -> Result<(CodeInfo, Option<Fault>), StoreError> {
    let code = match MarkingCode::parse(input) {
        Ok(code) => code,
        Err(e) => return Ok((not_a_code(input, &e), None)),
    };
    let ki = code.ki();
    let gtin = code.gtin().to_string();
    let mut info = CodeInfo {
        cis: input.to_string(),
        valid: true,
        print_view: Some(ki.clone()),
        gtin: Some(gtin.clone()),
        ..CodeInfo::default()
    };
    let Some(record) = store.code(&ki)? else {
        info.group_ids = code.pg_hint().map(|g| vec![u32::from(g.id)]);
        info.is_tracking = code.pg_hint().map(|g| TRACKED.contains(&g.id));
        info.error_code = Some(ErrorCode::NotFound.code());
        info.message = Some(ErrorCode::NotFound.meaning().into());
        return Ok((info, None));
    };
    info.found = true;
    let verdict = if record.fixed_kms.is_empty() {
        crypto::verify(store.seed(), &code)
    } else if record.fixed_kms.iter().any(|km| km == code.km()) {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    info.verified = verdict == Verdict::Valid;
    info.error_code = Some(
        match verdict {
            Verdict::Valid => ErrorCode::NoError,
            Verdict::Missing => ErrorCode::SignatureFormatMismatch,
            Verdict::Invalid => ErrorCode::SignatureInvalid,
        }
        .code(),
    );
    if verdict != Verdict::Valid {
        info.message =
            ErrorCode::from_code(info.error_code.unwrap_or(0)).map(|c| c.meaning().into());
    }

    let pg = record.pg;
    info.group_ids = Some(vec![u32::from(pg)]);
    info.is_tracking = Some(TRACKED.contains(&pg));
    info.utilised = record.status != Status::Emitted;
    info.realizable = record.status == Status::Introduced;
    info.sold = Some(record.status == Status::Sold);
    info.expire_date = record.expire_ms.map(format_date);
    info.production_date = record.produced_ms.map(format_date);
    info.is_owner = record.owner_inn.as_ref().map(|owner| owner == caller_inn);
    info.producer_inn = record.producer_inn.clone();
    info.package_type = Some(record.package.wire().to_string());
    info.package_quantity = record.package_quantity;
    info.inner_unit_count = record.inner_unit_count;
    info.sold_unit_count = record.sold_unit_count;
    info.product_weight = record.product_weight.map(f64::from);

    let (blocked, ogvs) = blocking(store, &ki, &gtin)?;
    info.is_blocked = Some(blocked);
    info.ogvs = blocked.then_some(ogvs).filter(|o| !o.is_empty());

    let prices = store
        .doc(Db::MinPrice, &gtin)?
        .filter(|d| !d.deleted)
        .map(|d| d.doc());
    // `timeZone` changes only these two prices; a zone price, when set, wins over the GTIN's.
    let zone_price = |field: &str| -> Result<Option<u64>, StoreError> {
        let zoned = store
            .zone_prices(&gtin, time_zone)?
            .and_then(|z| z.get(field).and_then(Value::as_u64));
        Ok(zoned.or_else(|| {
            prices
                .as_ref()
                .and_then(|d| d.get(field))
                .and_then(Value::as_u64)
        }))
    };
    match pg {
        marking::group::TOBACCO => {
            info.mrp = code.mrp().map(u64::from);
            info.smp = zone_price("smp")?;
            info.gray_zone = Some(record.gray_zone);
        }
        marking::group::NCP | marking::group::OTP => info.mrp = zone_price("mrp")?,
        _ => {}
    }
    Ok((info, record.fault))
}

/// Whether the code is blocked (by KI or by GTIN) and by whom.
fn blocking(store: &Store, ki: &str, gtin: &str) -> Result<(bool, Vec<String>), StoreError> {
    let mut blocked = false;
    let mut ogvs: Vec<String> = Vec::new();
    for (db, id) in [(Db::BlockedCis, ki), (Db::BlockedGtin, gtin)] {
        if let Some(doc) = store.doc(db, id)?.filter(|d| !d.deleted) {
            blocked = true;
            let doc = doc.doc();
            let listed = doc
                .get("ogvs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for ogv in listed.filter_map(Value::as_str) {
                if !ogvs.iter().any(|o| o == ogv) {
                    ogvs.push(ogv.to_string());
                }
            }
        }
    }
    Ok((blocked, ogvs))
}

/// A string that is not a KM: an item without `printView`, `gtin`, `groupIds`, `isTracking`,
/// `sold`, `packageType` (protocol.md §1.6).
fn not_a_code(input: &str, error: &CodeError) -> CodeInfo {
    let code = match error {
        CodeError::MissingGtin { .. } => ErrorCode::NoGtin,
        CodeError::MissingSerial => ErrorCode::NoSerial,
        CodeError::UnexpectedByte { .. } | CodeError::NotNumeric { .. } => {
            ErrorCode::ForbiddenCharacters
        }
        CodeError::UnknownAi { .. } => ErrorCode::UnsupportedAis,
        _ => ErrorCode::ValidationError,
    };
    CodeInfo {
        cis: input.to_string(),
        error_code: Some(code.code()),
        message: Some(error.to_string()),
        ..CodeInfo::default()
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC.
pub fn format_date(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Parses `yyyy-MM-dd` or the full `yyyy-MM-ddTHH:mm:ss.SSSZ` form into ms (UTC).
pub fn parse_date(text: &str) -> Option<i64> {
    let full = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let day = time::macros::format_description!("[year]-[month]-[day]");
    let at = match time::PrimitiveDateTime::parse(text, &full) {
        Ok(t) => t,
        Err(_) => time::Date::parse(text, &day).ok()?.midnight(),
    };
    Some((at.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_use_the_guide_format() {
        let ms = parse_date("2022-12-22T12:16:00.000Z").expect("parses");
        assert_eq!(format_date(ms), "2022-12-22T12:16:00.000Z");
        assert_eq!(
            format_date(parse_date("2024-08-16").expect("day")),
            "2024-08-16T00:00:00.000Z"
        );
        assert_eq!(parse_date("16.08.2024"), None);
    }

    #[test]
    fn a_non_code_names_the_reason() {
        let err = MarkingCode::parse("hello").expect_err("not a code");
        let info = not_a_code("hello", &err);
        assert!(!info.valid && !info.found);
        assert_eq!(info.error_code, Some(2));
        assert!(info.print_view.is_none() && info.sold.is_none() && info.package_type.is_none());
    }
}
