//! Admin HTTP API under `/admin/v1` (unauthenticated: bind the main listener to loopback):
//! participants and tokens, issuing codes, blocking, prices, sales, the sandbox cases, faults and
//! emergency mode. Bulk requests carry many values; each request is one transaction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chaos::ChaosSettings;
use crate::faults::Fault;
use crate::http_error::{ApiError, JsonBody};
use crate::issue::{self, IssueSpec};
use crate::state::AppState;
use crate::store::{Db, DocChange, Status};

pub const PREFIX: &str = "/admin/v1";
/// Most codes one `issue` request may create (the CLI splits bigger counts).
pub const MAX_ISSUE: usize = 1_000_000;
/// How long a `fault` call waits for a host's listener to close or re-open.
const LISTENER_WAIT: Duration = Duration::from_secs(10);

pub fn routes() -> Router<AppState> {
    let admin = Router::new()
        .route("/token", post(token))
        .route("/sandbox", post(sandbox))
        .route("/issue", post(issue_codes))
        .route("/block", post(block))
        .route("/unblock", post(unblock))
        .route("/block-gtin", post(block_gtin))
        .route("/unblock-gtin", post(unblock_gtin))
        .route("/price", post(price))
        .route("/sell", post(sell))
        .route("/fault", post(fault))
        .route("/emergency", post(emergency))
        .route("/chaos", get(chaos_report).post(chaos))
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
    let token = uuid::Uuid::new_v4().to_string();
    app.add_token(token.clone(), inn.clone()).await?;
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

async fn issue_codes(
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

fn ogvs_of(ogvs: Option<Vec<String>>) -> Option<Vec<String>> {
    ogvs.filter(|o| !o.is_empty())
}

async fn block(
    State(app): State<AppState>,
    body: Result<JsonBody<CodesRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let items = read_codes(&request.codes)?;
    let ogvs = ogvs_of(request.ogvs);
    let changed = app
        .store
        .blocking(move |s| s.block_codes(&items, ogvs.as_deref()))
        .await?;
    Ok(Json(
        json!({"requested": request.codes.len(), "changed": changed}),
    ))
}

async fn unblock(
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

async fn apply(app: &AppState, db: Db, changes: Vec<DocChange>) -> Result<usize, ApiError> {
    Ok(app.store.blocking(move |s| s.apply(db, &changes)).await?)
}

async fn block_gtin(
    State(app): State<AppState>,
    body: Result<JsonBody<GtinsRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    check_gtins(&request.gtins)?;
    let body = match ogvs_of(request.ogvs) {
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

async fn unblock_gtin(
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

async fn price(
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

async fn sell(
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

#[derive(Debug, Serialize, Deserialize)]
pub struct FaultRequest {
    /// CDN host number, 1-based as in `cdn/info`.
    pub host: usize,
    pub mode: String,
    #[serde(default)]
    pub ms: Option<u64>,
}

async fn fault(
    State(app): State<AppState>,
    body: Result<JsonBody<FaultRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let fault = Fault::parse(&request.mode, request.ms).map_err(ApiError::bad_request)?;
    let hosts = app.faults.host_count();
    if request.host == 0 || request.host > hosts {
        return Err(ApiError::bad_request(format!(
            "host {}: hosts are numbered 1..={hosts}",
            request.host
        )));
    }
    let index = request.host - 1;
    app.store
        .blocking(move |s| s.save_fault(index, fault))
        .await?;
    app.faults.set(index, fault);
    // Answer once the listener is in the state the fault implies, so that a caller can use the
    // host right after switching `refuse` off (or count on refusal right after switching it on).
    let open = fault != Some(Fault::Refuse);
    if !app.faults.wait_open(index, open, LISTENER_WAIT).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "host {}: the listener did not {} within {} s",
                request.host,
                if open { "re-open" } else { "close" },
                LISTENER_WAIT.as_secs()
            ),
        ));
    }
    Ok(Json(json!({"host": request.host, "fault": fault})))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EmergencyRequest {
    pub on: bool,
}

async fn emergency(
    State(app): State<AppState>,
    body: Result<JsonBody<EmergencyRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    let on = request.on;
    app.store.blocking(move |s| s.save_emergency(on)).await?;
    app.faults.set_emergency(request.on);
    Ok(Json(json!({"emergency": request.on})))
}

/// `POST /admin/v1/chaos`: `{"chaos": {settings}}` switches the replication chaos on (counts
/// start from zero), `{"chaos": null}` off. Kept in the store like the fault knobs.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChaosRequest {
    pub chaos: Option<ChaosSettings>,
}

async fn chaos(
    State(app): State<AppState>,
    body: Result<JsonBody<ChaosRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(request) = body?;
    if let Some(settings) = &request.chaos {
        settings
            .validate()
            .map_err(|e| ApiError::bad_request(format!("chaos.{e}")))?;
    }
    let in_force = app.chaos.set(request.chaos);
    app.store
        .blocking(move |s| s.save_chaos(in_force.as_ref()))
        .await?;
    Ok(Json(app.chaos.report()))
}

/// `GET /admin/v1/chaos`: the settings in force (with the seed) and the counts per kind.
async fn chaos_report(State(app): State<AppState>) -> Json<Value> {
    Json(app.chaos.report())
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
