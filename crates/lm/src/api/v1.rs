//! `/api/v1/*` (LM 1.x, still used by deployed tills): status with `replicationStatus`, and the
//! flat check answers of `cis/check` and `cis/outCheck` (protocol.md §3.3, §3.5).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use protocol::lm::{Counter, OutCheckV1Response, ReplicationState, Status};
use serde_json::Value;

use super::backend::{Backend, Snapshot};
use super::body::{JsonBody, QueryPairs, RawQuery};
use super::check::{self, Generation, Requested};
use super::clients::Verdict;
use super::error::ApiError;
use super::v2::status_common;
use super::{ApiState, Client};

/// The databases LM 1.x reported; ours that do not exist there are counted as empty.
const V1_DATABASES: [&str; 4] = ["cis", "blocked_series", "blocked_gtin", "blocked_cis"];

/// `GET /api/v1/status`.
pub async fn status<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
) -> Result<Json<Status>, ApiError> {
    let snapshot = state.snapshot().map_err(check::module_error)?;
    let now = state.backend.now_ms();
    Ok(Json(status_v1(&snapshot, &state.software_version, now)))
}

/// The v1 `status`: `requiresDownload` (a full pull of some list is still pending) and
/// `replicationStatus.<db>.{localDocCount, serverDocCount, timeLag}`.
pub fn status_v1(snapshot: &Snapshot, version: &str, now_ms: u64) -> Status {
    let mut status = status_common(snapshot, version);
    // How far the local copy is behind: counted at answer time (the snapshot is cached).
    let lag = (snapshot.last_sync > 0).then(|| now_ms.saturating_sub(snapshot.last_sync));
    let configured = !snapshot.inst.is_empty();
    status.requires_download = Some(!configured || snapshot.dbs.iter().any(|db| !db.pulled));
    let mut replication: BTreeMap<String, ReplicationState> = V1_DATABASES
        .iter()
        .map(|name| {
            let zero = ReplicationState {
                local_doc_count: Some(Counter::Number(0)),
                server_doc_count: Some(Counter::Number(0)),
                time_lag: Some(Counter::Number(0)),
            };
            ((*name).to_owned(), zero)
        })
        .collect();
    for db in &snapshot.dbs {
        let number = |value: Option<u64>| match value {
            Some(value) => Counter::Number(i64::try_from(value).unwrap_or(i64::MAX)),
            None => Counter::Text("unknown".to_owned()),
        };
        replication.insert(
            db.name.to_owned(),
            ReplicationState {
                local_doc_count: Some(number(Some(db.local_count))),
                server_doc_count: Some(number(db.server_count)),
                time_lag: Some(number(lag)),
            },
        );
    }
    status.replication_status = Some(replication);
    status
}

/// `GET /api/v1/cis/check?cis=` and `GET /api/v1/cis/outCheck?cis=`.
pub async fn check_get<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    Extension(client): Extension<Client>,
    RawQuery(query): RawQuery,
) -> Result<Json<OutCheckV1Response>, ApiError> {
    let pairs = QueryPairs::parse(&query, &["cis", "pg"])?;
    let Some(cis) = pairs.get("cis") else {
        return Err(ApiError::bad_request(
            "missing query parameter cis (the KI, percent-encoded)",
        ));
    };
    let pg = match pairs.get("pg") {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u16>().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter pg {text:?} is not a product group"
            ))
        })?),
    };
    let requested = vec![Requested {
        cis: cis.to_owned(),
        pg,
    }];
    answer(&state, &client, &requested).map(Json)
}

/// `POST /api/v1/cis/check` and `POST /api/v1/cis/outCheck` with `{"cis_list": [...]}`.
pub async fn check_post<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    Extension(client): Extension<Client>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<OutCheckV1Response>, ApiError> {
    let requested = check::parse_cis_list(&body)?;
    answer(&state, &client, &requested).map(Json)
}

/// One flat answer for every requested KI; a KI that is not a marking code fails the request.
fn answer<M: Backend>(
    state: &ApiState<M>,
    client: &Client,
    requested: &[Requested],
) -> Result<OutCheckV1Response, ApiError> {
    let now_ms = state.backend.now_ms();
    let mut kis = Vec::with_capacity(requested.len());
    for (index, item) in requested.iter().enumerate() {
        let ki = check::to_ki(&item.cis).map_err(|reason| {
            client.counters.record(Verdict::Invalid, &item.cis, now_ms);
            ApiError::bad_request(format!("cis_list[{index}]: {reason}"))
        })?;
        kis.push((ki, item.pg));
    }
    let snapshot = state.snapshot().map_err(check::module_error)?;
    if let Err(refused) = check::require_ready(&snapshot) {
        for (ki, _) in &kis {
            client.counters.record(Verdict::NotReady, &ki.ki, now_ms);
        }
        return Err(refused);
    }
    let mut codes = Vec::with_capacity(kis.len());
    for (ki, pg) in &kis {
        let facts = state
            .backend
            .facts(&ki.ki, &ki.gtin)
            .map_err(check::module_error)?;
        let code = check::module_code(ki, *pg, &facts, snapshot.grey_mode, Generation::V1);
        client
            .counters
            .record(check::verdict(&code, &facts), &ki.ki, now_ms);
        codes.push(code);
    }
    Ok(OutCheckV1Response {
        code: 0,
        description: "ok".to_owned(),
        codes: Some(codes),
        req_id: uuid::Uuid::new_v4().to_string(),
        req_timestamp: i64::try_from(now_ms).unwrap_or(i64::MAX),
        inst: snapshot.inst.clone(),
        version: Some(snapshot.db_version.clone()),
    })
}
