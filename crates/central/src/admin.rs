//! Admin HTTP API under `/admin/v1` (unauthenticated: bind the main listener to loopback):
//! participants and tokens, issuing codes, blocking, prices, sales, the sandbox cases, faults and
//! emergency mode. Bulk requests carry many values; each request is one transaction.
//! Handlers live in one module per thing they act on: `codes`, `gtins` and `knobs` (faults,
//! emergency, chaos).

mod codes;
mod gtins;
mod knobs;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use codes::{CodesRequest, IssueAnswer, MAX_ISSUE, OGVS};
pub use gtins::GtinsRequest;
pub use knobs::{ChaosRequest, EmergencyRequest, FaultRequest};

use crate::http_error::{ApiError, JsonBody};
use crate::state::AppState;
use crate::store::Db;

pub const PREFIX: &str = "/admin/v1";

pub fn routes() -> Router<AppState> {
    let admin = Router::new()
        .route("/token", post(token))
        .route("/sandbox", post(sandbox))
        .route("/issue", post(codes::issue_codes))
        .route("/block", post(codes::block))
        .route("/unblock", post(codes::unblock))
        .route("/block-gtin", post(gtins::block_gtin))
        .route("/unblock-gtin", post(gtins::unblock_gtin))
        .route("/price", post(gtins::price))
        .route("/sell", post(codes::sell))
        .route("/fault", post(knobs::fault))
        .route("/emergency", post(knobs::emergency))
        .route("/chaos", get(knobs::chaos_report).post(knobs::chaos))
        .route("/status", get(status));
    Router::new().nest(PREFIX, admin)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenRequest {
    pub inn: String,
}

async fn token(
    State(app): State<AppState>,
    body: Result<JsonBody<TokenRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let inn = request.inn.trim().to_string();
    if !matches!(inn.len(), 10 | 12) || !inn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "inn {inn:?}: an INN is 10 or 12 digits"
        )));
    }
    let token = app.issue_token(inn.clone()).await?;
    Ok(Json(json!({"token": token, "inn": inn})))
}

async fn sandbox(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    app.store.blocking(crate::sandbox::load).await?;
    let cases: Vec<Value> = crate::sandbox::CASES
        .iter()
        .map(|c| json!({"case": c.number, "km": c.km, "expect": c.expect}))
        .collect();
    Ok(Json(json!({ "cases": cases })))
}

async fn status(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (codes, dbs) = app
        .store
        .blocking(|s| {
            let mut dbs = serde_json::Map::new();
            for db in Db::ALL {
                let stats = s.db_stats(db)?;
                dbs.insert(
                    db.name().into(),
                    json!({"doc_count": stats.doc_count, "update_seq": stats.update_seq}),
                );
            }
            Ok((s.code_count()?, dbs))
        })
        .await?;
    let hosts: Vec<Value> = app
        .urls
        .cdn
        .iter()
        .enumerate()
        .map(|(i, url)| json!({"host": i + 1, "url": url, "fault": app.faults.get(i)}))
        .collect();
    Ok(Json(json!({
        "main": app.urls.main,
        "hosts": hosts,
        "emergency": app.faults.emergency(),
        "chaos": app.chaos.settings(),
        "codes": codes,
        "databases": dbs,
    })))
}
