//! `/api/v2/*`: status, init, greyList, cis/outCheck (protocol.md §3.2–3.4, §3.6).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use protocol::lm::{CheckResult, DbState, GreyListRequest, InitRequest, OutCheckResponse, Status};
use serde::Serialize;
use serde_json::Value;

use super::backend::{Backend, Snapshot};
use super::body::JsonBody;
use super::check::{self, Generation};
use super::clients::Verdict;
use super::error::ApiError;
use super::{ApiState, Client};

/// Body of `init` and `greyList` answers: the guide documents a bare 200; a JSON body keeps
/// clients that parse every answer happy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    pub code: u16,
    pub description: &'static str,
}

const DONE: Done = Done {
    code: 0,
    description: "ok",
};

/// `GET /api/v2/status`.
pub async fn status<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
) -> Result<Json<Status>, ApiError> {
    let snapshot = state.snapshot().map_err(check::module_error)?;
    Ok(Json(status_v2(&snapshot, &state.software_version)))
}

/// The v2 `status` of a snapshot: `dbState` only after initialisation.
pub fn status_v2(snapshot: &Snapshot, version: &str) -> Status {
    let mut status = status_common(snapshot, version);
    if !snapshot.inst.is_empty() {
        let db_state: BTreeMap<String, DbState> = snapshot
            .dbs
            .iter()
            .map(|db| {
                (
                    db.name.to_owned(),
                    DbState {
                        doc_count: db.local_count,
                    },
                )
            })
            .collect();
        status.db_state = Some(db_state);
    }
    status
}

/// The fields v1 and v2 share.
pub fn status_common(snapshot: &Snapshot, version: &str) -> Status {
    Status {
        version: version.to_owned(),
        status: snapshot.state.clone(),
        service_url: snapshot.service_url.clone(),
        operation_mode: snapshot.mode.clone(),
        name: "znak".to_owned(),
        last_update: i64::try_from(snapshot.last_update).unwrap_or(i64::MAX),
        last_sync: i64::try_from(snapshot.last_sync).unwrap_or(i64::MAX),
        inst: snapshot.inst.clone(),
        inn: snapshot.inn.clone(),
        db_version: snapshot.db_version.clone(),
        db_state: None,
        is_grey_gtin: Some(snapshot.grey_mode),
        requires_download: None,
        replication_status: None,
        sync_progress: (!snapshot.extensions.sync_progress.is_empty())
            .then(|| snapshot.extensions.sync_progress.clone()),
        failure_reason: snapshot.extensions.failure_reason.clone(),
        last_sync_error: snapshot.extensions.last_sync_error.clone(),
    }
}

/// `POST /api/v{1,2}/init`.
pub async fn init<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    JsonBody(request): JsonBody<InitRequest>,
) -> Result<Json<Done>, ApiError> {
    if request.token.trim().is_empty() {
        return Err(ApiError::bad_request(
            "token is empty: send the participant's True API token (X-API-KEY)",
        ));
    }
    state
        .backend
        .init(
            request.token,
            request.clear_sold.unwrap_or(false),
            request.enable_grey_list.unwrap_or(false),
        )
        .await
        .map_err(check::module_error)?;
    Ok(Json(DONE))
}

/// `POST /api/v2/greyList`.
pub async fn grey_list<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    JsonBody(request): JsonBody<GreyListRequest>,
) -> Result<Json<Done>, ApiError> {
    state
        .backend
        .set_grey_mode(request.enable_grey_list)
        .await
        .map_err(check::module_error)?;
    Ok(Json(DONE))
}

/// `POST /api/v2/cis/outCheck`: one `results[]` element per KI, each with its own `reqId`.
pub async fn out_check<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    Extension(client): Extension<Client>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<OutCheckResponse>, ApiError> {
    let requested = check::parse_cis_list(&body)?;
    let snapshot = state.snapshot().map_err(check::module_error)?;
    let now_ms = state.backend.now_ms();
    if let Err(refused) = check::require_ready(&snapshot) {
        for item in &requested {
            client.counters.record(Verdict::NotReady, &item.cis, now_ms);
        }
        return Err(refused);
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let mut results = Vec::with_capacity(requested.len());
    for (index, item) in requested.iter().enumerate() {
        let base = CheckResult {
            code: 0,
            description: "ok".to_owned(),
            codes: None,
            req_id: uuid::Uuid::new_v4().to_string(),
            req_timestamp: now,
            inst: snapshot.inst.clone(),
            version: snapshot.db_version.clone(),
        };
        let result = match check::to_ki(&item.cis) {
            Ok(ki) => {
                let facts = state
                    .backend
                    .facts(&ki.ki, &ki.gtin)
                    .map_err(check::module_error)?;
                let code =
                    check::module_code(&ki, item.pg, &facts, snapshot.grey_mode, Generation::V2);
                let verdict = check::verdict(&code, &facts);
                client.counters.record(verdict, &ki.ki, now_ms);
                CheckResult {
                    codes: Some(vec![code]),
                    ..base
                }
            }
            Err(reason) => {
                client.counters.record(Verdict::Invalid, &item.cis, now_ms);
                CheckResult {
                    code: 400,
                    description: format!("cis_list[{index}]: {reason}"),
                    ..base
                }
            }
        };
        results.push(result);
    }
    Ok(Json(OutCheckResponse { results }))
}
