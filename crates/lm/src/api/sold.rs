//! The sold DB over HTTP: `cis/sell` (201), `cis/return`, `cis/sold?skip&limit`
//! (protocol.md §3.6). Every KI of a request is validated before anything is written, so a bad
//! item never leaves half a request applied.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use protocol::lm::{CisOutcome, CisOutcomes, SoldPage};
use serde_json::Value;

use super::ApiState;
use super::backend::Backend;
use super::body::{JsonBody, QueryPairs, RawQuery};
use super::check;
use super::error::ApiError;

/// Default page size of `cis/sold`.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page of `cis/sold`.
pub const MAX_LIMIT: u64 = 1000;

/// `POST /api/v2/cis/sell` → 201 `{"results": [{"success", "cis"}]}`; `success` is false for a
/// KI that was already recorded.
pub async fn sell<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<CisOutcomes>), ApiError> {
    let kis = kis_of(&body)?;
    let mut results = Vec::with_capacity(kis.len());
    for ki in kis {
        let success = state.backend.sell(&ki).map_err(check::module_error)?;
        results.push(CisOutcome { success, cis: ki });
    }
    Ok((StatusCode::CREATED, Json(CisOutcomes { results })))
}

/// `POST /api/v2/cis/return` → 200; `success` is false for a KI that was not recorded.
pub async fn give_back<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<CisOutcomes>, ApiError> {
    let kis = kis_of(&body)?;
    let mut results = Vec::with_capacity(kis.len());
    for ki in kis {
        let success = state.backend.unsell(&ki).map_err(check::module_error)?;
        results.push(CisOutcome { success, cis: ki });
    }
    Ok(Json(CisOutcomes { results }))
}

/// `GET /api/v2/cis/sold?skip=&limit=`: `skip` default 0, `limit` 0…1000, default 100.
pub async fn page<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    RawQuery(query): RawQuery,
) -> Result<Json<SoldPage>, ApiError> {
    let pairs = QueryPairs::parse(&query, &["skip", "limit"])?;
    let skip = number(&pairs, "skip", 0)?;
    let limit = number(&pairs, "limit", DEFAULT_LIMIT)?;
    if limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is over the maximum of {MAX_LIMIT}"
        )));
    }
    let (total_count, cis_list) = state
        .backend
        .sold_page(skip, limit)
        .map_err(check::module_error)?;
    Ok(Json(SoldPage {
        total_count,
        cis_list,
    }))
}

fn number(pairs: &QueryPairs, name: &str, default: u64) -> Result<u64, ApiError> {
    match pairs.get(name) {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter {name} must be a non-negative integer, got {text:?}"
            ))
        }),
    }
}

/// The KIs of a `cis_list` body, each cut from a full KM if one was sent.
fn kis_of(body: &Value) -> Result<Vec<String>, ApiError> {
    check::parse_cis_list(body)?
        .iter()
        .enumerate()
        .map(|(index, item)| {
            check::to_ki(&item.cis)
                .map(|ki| ki.ki)
                .map_err(|reason| ApiError::bad_request(format!("cis_list[{index}]: {reason}")))
        })
        .collect()
}
