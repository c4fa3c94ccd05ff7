//! Knobs: per-host faults, emergency mode and the replication chaos, each kept in the store.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chaos::ChaosSettings;
use crate::faults::Fault;
use crate::http_error::{ApiError, JsonBody};
use crate::state::AppState;

/// How long a `fault` call waits for a host's listener to close or re-open.
const LISTENER_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
pub struct FaultRequest {
    /// CDN host number, 1-based as in `cdn/info`.
    pub host: usize,
    pub mode: String,
    #[serde(default)]
    pub ms: Option<u64>,
}

pub(super) async fn fault(
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

pub(super) async fn emergency(
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

pub(super) async fn chaos(
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
pub(super) async fn chaos_report(State(app): State<AppState>) -> Json<Value> {
    Json(app.chaos.report())
}
