//! Codes: issuing, blocking and unblocking them by KM or KI, and selling them (whole or in
//! units).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http_error::{ApiError, JsonBody};
use crate::issue::{self, IssueSpec};
use crate::state::AppState;
use crate::store::Status;

/// Most codes one `issue` request may create (the CLI splits bigger counts).
pub const MAX_ISSUE: usize = 1_000_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The answer of `issue`: the batch's GTIN and the full KMs.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssueAnswer {
    pub gtin: String,
    pub codes: Vec<String>,
}

pub(super) async fn issue_codes(
    State(app): State<AppState>,
    body: Result<JsonBody<IssueSpec>, ApiError>,
) -> Result<Json<IssueAnswer>, ApiError> {
    let JsonBody(spec) = body?;
    if marking::ProductGroup::by_id(spec.pg).is_none() {
        return Err(ApiError::bad_request(format!(
            "pg {}: no such product group",
            spec.pg
        )));
    }
    if spec.count == 0 || spec.count > MAX_ISSUE {
        return Err(ApiError::bad_request(format!(
            "count {}: must be 1..={MAX_ISSUE}",
            spec.count
        )));
    }
    issue::check_units(&spec).map_err(ApiError::bad_request)?;
    issue::check_dates(&spec).map_err(ApiError::bad_request)?;
    check_ogvs(spec.block.as_deref())?;
    let gtin = issue::batch_gtin(&spec, &mut rand::rng()).map_err(ApiError::bad_request)?;
    let batch_gtin = gtin.clone();
    // Codes are made before the write transaction starts, so with requests in flight side by
    // side one request's codes are made while another's are written.
    let codes = app
        .store
        .blocking(move |store| {
            let mut issued = Vec::with_capacity(spec.count);
            let mut wanted = spec.count;
            let block = spec.block.as_deref().map(|o| (!o.is_empty()).then_some(o));
            // Random serials rarely collide with codes issued before; replace those.
            for _ in 0..8 {
                if wanted == 0 {
                    break;
                }
                let batch = issue::generate(store.seed(), &spec, &batch_gtin, wanted, now_ms());
                let kis: Vec<&str> = batch.codes.iter().map(issue::Code::ki).collect();
                let existing = store.issue_codes(&kis, &batch.record, &batch_gtin, block)?;
                drop(kis);
                wanted = existing.len();
                let existing: std::collections::HashSet<String> = existing.into_iter().collect();
                issued.extend(
                    batch
                        .codes
                        .into_iter()
                        .filter(|c| existing.is_empty() || !existing.contains(c.ki()))
                        .map(issue::Code::into_km),
                );
            }
            Ok(issued)
        })
        .await?;
    Ok(Json(IssueAnswer { gtin, codes }))
}

/// Codes (KM or KI) to act on.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CodesRequest {
    pub codes: Vec<String>,
    #[serde(default)]
    pub ogvs: Option<Vec<String>>,
    /// `sell` only: sell this many units of each code (a part of a keg, a pack, a weight)
    /// instead of the whole item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<u64>,
}

/// (KI, GTIN) of each input; 400 naming the first unreadable one.
fn read_codes(codes: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let code = marking::MarkingCode::parse(input)
                .map_err(|e| ApiError::bad_request(format!("codes[{i}] {input:?}: {e}")))?;
            Ok((code.ki(), code.gtin().to_string()))
        })
        .collect()
}

/// The authorities that block retail sale, as `ogvs` names them (protocol.md §1.7).
pub const OGVS: [&str; 10] = [
    "RAR", "FTS", "FNS", "RSHN", "RPN", "MVD", "RZN", "VETRF", "RD", "FSSP",
];

/// The `ogvs` to store (none when empty); 400 naming the first one that is no authority, so
/// that a typo does not reach tills as a blocking reason no real answer carries.
pub(super) fn ogvs_of(ogvs: Option<Vec<String>>) -> Result<Option<Vec<String>>, ApiError> {
    check_ogvs(ogvs.as_deref())?;
    Ok(ogvs.filter(|o| !o.is_empty()))
}

pub(super) fn check_ogvs(ogvs: Option<&[String]>) -> Result<(), ApiError> {
    for (i, ogv) in ogvs.unwrap_or_default().iter().enumerate() {
        if !OGVS.contains(&ogv.as_str()) {
            return Err(ApiError::bad_request(format!(
                "ogvs[{i}] {ogv:?}: not an authority; one of {}",
                OGVS.join(", ")
            )));
        }
    }
    Ok(())
}

pub(super) async fn block(
    State(app): State<AppState>,
    body: Result<JsonBody<CodesRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let ogvs = ogvs_of(request.ogvs)?;
    let items = read_codes(&request.codes)?;
    let changed = app
        .store
        .blocking(move |s| s.block_codes(&items, ogvs.as_deref()))
        .await?;
    Ok(Json(
        json!({"requested": request.codes.len(), "changed": changed}),
    ))
}

pub(super) async fn unblock(
    State(app): State<AppState>,
    body: Result<JsonBody<CodesRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let kis: Vec<String> = read_codes(&request.codes)?
        .into_iter()
        .map(|(ki, _)| ki)
        .collect();
    let changed = app.store.blocking(move |s| s.unblock_codes(&kis)).await?;
    Ok(Json(
        json!({"requested": request.codes.len(), "changed": changed}),
    ))
}

pub(super) async fn sell(
    State(app): State<AppState>,
    body: Result<JsonBody<CodesRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let kis: Vec<String> = read_codes(&request.codes)?
        .into_iter()
        .map(|(ki, _)| ki)
        .collect();
    if let Some(units) = request.units {
        if units == 0 {
            return Err(ApiError::bad_request("units: must be at least 1"));
        }
        let refused = app
            .store
            .blocking(move |s| s.sell_units(&kis, units))
            .await?;
        if let Err(r) = refused {
            let input = request.codes.get(r.index).map_or("", String::as_str);
            return Err(ApiError::bad_request(format!(
                "codes[{}] {input:?} ({}): {}; nothing was sold",
                r.index, r.ki, r.reason
            )));
        }
        return Ok(Json(
            json!({"requested": request.codes.len(), "sold": request.codes.len(), "units": units, "unknown": []}),
        ));
    }
    // A whole sale sells every unit left too.
    let unknown = app
        .store
        .blocking(move |s| {
            s.update_codes(&kis, |r| {
                r.status = Status::Sold;
                r.sold_unit_count = r.inner_unit_count.or(r.sold_unit_count);
            })
        })
        .await?;
    Ok(Json(
        json!({"requested": request.codes.len(), "sold": request.codes.len() - unknown.len(), "unknown": unknown}),
    ))
}
