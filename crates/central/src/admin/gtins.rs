//! GTINs: blocking whole products and setting minimum prices (the `blocked_gtin` and
//! `min_price` lists, or per-time-zone prices outside the feed).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::codes::ogvs_of;
use crate::http_error::{ApiError, JsonBody};
use crate::state::AppState;
use crate::store::{Db, DocChange};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GtinsRequest {
    pub gtins: Vec<String>,
    #[serde(default)]
    pub ogvs: Option<Vec<String>>,
    #[serde(default)]
    pub mrp: Option<u64>,
    #[serde(default)]
    pub smp: Option<u64>,
    /// `price` only: the prices hold in this time zone (1–11) only, for `codes/check` with
    /// that `timeZone`; they are not in the `min_price` feed.
    #[serde(default)]
    pub zone: Option<u8>,
}

fn check_gtins(gtins: &[String]) -> Result<(), ApiError> {
    for (i, g) in gtins.iter().enumerate() {
        if g.len() != 14 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request(format!(
                "gtins[{i}] {g:?}: a GTIN is 14 digits"
            )));
        }
        marking::gtin::verify(g.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("gtins[{i}] {g}: {e}")))?;
    }
    Ok(())
}

pub(super) async fn apply(
    app: &AppState,
    db: Db,
    changes: Vec<DocChange>,
) -> Result<usize, ApiError> {
    Ok(app.store.blocking(move |s| s.apply(db, &changes)).await?)
}

pub(super) async fn block_gtin(
    State(app): State<AppState>,
    body: Result<JsonBody<GtinsRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    check_gtins(&request.gtins)?;
    let body = match ogvs_of(request.ogvs)? {
        Some(ogvs) => json!({ "ogvs": ogvs }),
        None => json!({}),
    };
    let body = body.as_object().cloned().unwrap_or_default();
    let changes = request
        .gtins
        .iter()
        .map(|g| DocChange::Put {
            id: g.clone(),
            body: body.clone(),
        })
        .collect();
    let changed = apply(&app, Db::BlockedGtin, changes).await?;
    Ok(Json(
        json!({"requested": request.gtins.len(), "changed": changed}),
    ))
}

pub(super) async fn unblock_gtin(
    State(app): State<AppState>,
    body: Result<JsonBody<GtinsRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    check_gtins(&request.gtins)?;
    let changes = request
        .gtins
        .iter()
        .map(|g| DocChange::Delete { id: g.clone() })
        .collect();
    let changed = apply(&app, Db::BlockedGtin, changes).await?;
    Ok(Json(
        json!({"requested": request.gtins.len(), "changed": changed}),
    ))
}

pub(super) async fn price(
    State(app): State<AppState>,
    body: Result<JsonBody<GtinsRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    check_gtins(&request.gtins)?;
    let mut fields = serde_json::Map::new();
    if let Some(mrp) = request.mrp {
        fields.insert("mrp".into(), mrp.into());
    }
    if let Some(smp) = request.smp {
        fields.insert("smp".into(), smp.into());
    }
    if let Some(zone) = request.zone {
        if !(1..=11).contains(&zone) {
            return Err(ApiError::bad_request(format!(
                "zone {zone}: a time zone is 1..11 (FFD tag 1011)"
            )));
        }
        let gtins = request.gtins.clone();
        let prices = (!fields.is_empty()).then_some(fields);
        let changed = app
            .store
            .blocking(move |s| s.set_zone_prices(&gtins, zone, prices.as_ref()))
            .await?;
        return Ok(Json(
            json!({"requested": request.gtins.len(), "changed": changed, "zone": zone}),
        ));
    }
    let changes = request
        .gtins
        .iter()
        .map(|g| match fields.is_empty() {
            // Neither price: the GTIN's minimum prices are withdrawn.
            true => DocChange::Delete { id: g.clone() },
            false => DocChange::Put {
                id: g.clone(),
                body: fields.clone(),
            },
        })
        .collect();
    let changed = apply(&app, Db::MinPrice, changes).await?;
    Ok(Json(
        json!({"requested": request.gtins.len(), "changed": changed}),
    ))
}
