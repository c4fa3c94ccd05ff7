//! True API routes: `cdn/info` and the token method ([`crate::token_method`]) on the main host; `cdn/health/check` and `codes/check` on each
//! CDN host, with that host's fault knob, per-code sandbox faults and emergency mode.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::true_api::{
    CDN_INFO_PATH, CODES_CHECK_PATH, CdnHost, CdnInfo, CodesCheckResponse, HEALTH_CHECK_PATH,
    HealthCheck, PERMISSIVE_ACCESS_PATH,
};

use crate::check::{DEFAULT_TIME_ZONE, check_codes};
use crate::faults::{self, Fault};
use crate::http_error::{ApiError, JsonBody};
use crate::state::AppState;

/// The `codes/check` body as read here: `timeZone` is taken as any JSON value so that a value
/// of the wrong type is answered with a reason naming the field (serde's message would not).
/// Other fields (`fiscalDriveNumber`) are accepted and not used.
#[derive(serde::Deserialize)]
pub struct CheckBody {
    codes: Vec<String>,
    #[serde(default, rename = "timeZone")]
    time_zone: Option<serde_json::Value>,
}

/// `timeZone`: 1–11 as FFD tag 1011; absent or null means Moscow (2).
fn time_zone(value: Option<&serde_json::Value>) -> Result<u8, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(DEFAULT_TIME_ZONE),
        Some(v) => v
            .as_u64()
            .filter(|z| (1..=11).contains(z))
            .map(|z| z as u8)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "timeZone: {v} is not a time zone; an integer 1..11 (FFD tag 1011) is expected"
                ))
            }),
    }
}

/// Most codes one `codes/check` request may carry (the guide gives no limit; design.md §5 uses
/// 1000 for the module's methods).
pub const MAX_CODES: usize = 1000;

/// Routes of the main host.
pub fn main_routes() -> Router<AppState> {
    Router::new().route(CDN_INFO_PATH, get(cdn_info)).route(
        PERMISSIVE_ACCESS_PATH,
        post(crate::token_method::permissive_access),
    )
}

/// State of one CDN host's handlers.
#[derive(Clone)]
pub struct CdnState {
    pub app: AppState,
    pub host: usize,
}

/// Routes of CDN host `host`.
pub fn cdn_router(app: AppState, host: usize) -> Router {
    Router::new()
        .route(HEALTH_CHECK_PATH, get(health_check))
        .route(CODES_CHECK_PATH, post(codes_check))
        .fallback(crate::http_error::no_route)
        .method_not_allowed_fallback(crate::http_error::wrong_method)
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .layer(crate::http_error::body_timeout())
        .layer(crate::http_error::catch_panics())
        .with_state(CdnState { app, host })
}

async fn cdn_info(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.caller(&headers)?;
    if app.faults.emergency() {
        return Ok(faults::emergency());
    }
    let hosts = app
        .urls
        .cdn
        .iter()
        .map(|h| CdnHost { host: h.clone() })
        .collect();
    Ok(Json(CdnInfo {
        code: 0,
        description: "ok".into(),
        hosts,
    })
    .into_response())
}

/// Checks the caller and acts out the emergency answer or the host's fault: `Ok(inn)` to answer
/// normally, `Err` with the response to send instead. The key is checked first, so an unknown
/// key gets 401 whatever fault is set; only a refusing host (whose listener is closed, so a
/// request can only have slipped in) answers without looking at it.
async fn admit(state: &CdnState, headers: &HeaderMap) -> Result<String, Response> {
    let fault = state.app.faults.get(state.host);
    if fault == Some(Fault::Refuse)
        && let Some(response) = Fault::Refuse.act().await
    {
        return Err(response);
    }
    let inn = state
        .app
        .caller(headers)
        .map_err(IntoResponse::into_response)?;
    if state.app.faults.emergency() {
        return Err(faults::emergency());
    }
    if let Some(fault) = fault
        && let Some(response) = fault.act().await
    {
        return Err(response);
    }
    Ok(inn)
}

async fn health_check(
    State(state): State<CdnState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Err(response) = admit(&state, &headers).await {
        return Ok(response);
    }
    let avg = match state.app.faults.get(state.host) {
        Some(Fault::Delay { ms }) => ms,
        _ => 1,
    };
    Ok(Json(HealthCheck {
        code: 0,
        description: "ok".into(),
        avg_time_ms: avg,
    })
    .into_response())
}

async fn codes_check(
    State(state): State<CdnState>,
    headers: HeaderMap,
    body: Result<JsonBody<CheckBody>, ApiError>,
) -> Result<Response, ApiError> {
    let inn = match admit(&state, &headers).await {
        Ok(inn) => inn,
        Err(response) => return Ok(response),
    };
    let JsonBody(request) = body?;
    if request.codes.is_empty() {
        return Err(ApiError::bad_request(
            "codes: at least one code is required",
        ));
    }
    if request.codes.len() > MAX_CODES {
        return Err(ApiError::bad_request(format!(
            "codes: {} codes in one request, at most {MAX_CODES} allowed",
            request.codes.len()
        )));
    }
    let time_zone = time_zone(request.time_zone.as_ref())?;
    let codes = request.codes;
    let (answers, fault) = state
        .app
        .store
        .blocking(move |s| check_codes(s, &codes, &inn, time_zone))
        .await?;
    if let Some(fault) = fault
        && let Some(response) = fault.act().await
    {
        return Ok(response);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Ok(Json(CodesCheckResponse {
        code: Some(0),
        description: Some("ok".into()),
        codes: Some(answers),
        req_id: uuid::Uuid::new_v4().to_string(),
        req_timestamp: now_ms as i64,
    })
    .into_response())
}
