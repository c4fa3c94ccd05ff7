//! The list databases over the CouchDB replication protocol, read side (design.md §3), under
//! `/replication`: `GET /{db}`, `GET /{db}/_changes` (normal, longpoll and continuous, streamed:
//! [`feed`]), `GET /{db}/{id}`,
//! `POST /{db}/_bulk_get`, and `_local` checkpoint docs. Basic auth with module credentials.
//! Errors use CouchDB's body `{"error", "reason"}`, which replicators expect.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use protocol::replication::{CouchError, DbInfo, Feed, PutResponse, Seq, Style};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::http_error::JsonBody;
use crate::state::AppState;
use crate::store::{Db, DocRead, LocalPut};

mod feed;

use feed::FeedRequest;

/// Path prefix of the replication source on the main host.
pub const PREFIX: &str = "/replication";
/// Default and longest wait of `longpoll` / `continuous` (without a heartbeat), ms.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
const MAX_TIMEOUT_MS: u64 = 300_000;

pub fn routes(app: AppState) -> Router<AppState> {
    let couch = Router::new()
        .route("/", get(welcome))
        .route("/{db}", get(db_info).put(db_exists))
        .route("/{db}/", get(db_info))
        .route("/{db}/_changes", get(changes))
        .route("/{db}/_bulk_get", post(bulk_get))
        .route("/{db}/_local/{id}", get(get_local).put(put_local))
        .route("/{db}/{id}", get(get_doc))
        .route_layer(middleware::from_fn_with_state(app, basic_auth));
    Router::new().nest(PREFIX, couch)
}

/// A CouchDB-style error answer.
pub struct CouchFailure(StatusCode, &'static str, String);

impl IntoResponse for CouchFailure {
    fn into_response(self) -> Response {
        let body = CouchError {
            error: self.1.into(),
            reason: self.2,
        };
        let mut response = (self.0, Json(body)).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"znak central\""),
            );
        }
        response
    }
}

impl From<crate::error::StoreError> for CouchFailure {
    fn from(e: crate::error::StoreError) -> Self {
        tracing::error!("{e}");
        CouchFailure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            e.to_string(),
        )
    }
}

fn bad_request(reason: impl Into<String>) -> CouchFailure {
    CouchFailure(StatusCode::BAD_REQUEST, "bad_request", reason.into())
}

fn not_found(reason: &str) -> CouchFailure {
    CouchFailure(StatusCode::NOT_FOUND, "not_found", reason.into())
}

async fn basic_auth(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        let reason = "Basic credentials from module registration are required";
        return CouchFailure(StatusCode::UNAUTHORIZED, "unauthorized", reason.into())
            .into_response();
    };
    if !app.module_password_ok(user, password) {
        let reason = "unknown module username or wrong password";
        return CouchFailure(StatusCode::UNAUTHORIZED, "unauthorized", reason.into())
            .into_response();
    }
    next.run(request).await
}

fn database(name: &str) -> Result<Db, CouchFailure> {
    Db::from_name(name).ok_or_else(|| not_found("Database does not exist."))
}

async fn welcome() -> Json<Value> {
    Json(json!({"couchdb": "Welcome", "version": "3.3.3", "vendor": {"name": "znak central"}}))
}

async fn db_info(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DbInfo>, CouchFailure> {
    let db = database(&name)?;
    let stats = app.store.blocking(move |s| s.db_stats(db)).await?;
    Ok(Json(DbInfo {
        db_name: Some(name),
        doc_count: stats.doc_count,
        doc_del_count: Some(stats.doc_del_count),
        update_seq: Seq::Number(stats.update_seq),
        instance_start_time: Some("0".into()),
    }))
}

/// `PUT /{db}`: the databases exist already (a replicator may try to create its source).
async fn db_exists(Path(name): Path<String>) -> Result<Response, CouchFailure> {
    database(&name)?;
    let reason = "The database could not be created, the file already exists.";
    Ok(CouchFailure(
        StatusCode::PRECONDITION_FAILED,
        "file_exists",
        reason.into(),
    )
    .into_response())
}

fn parse_since(since: Option<&str>, update_seq: u64) -> Result<u64, CouchFailure> {
    match since.map(|s| s.trim_matches('"')) {
        None | Some("") => Ok(0),
        Some("now") => Ok(update_seq),
        Some(text) => text
            .parse()
            .map_err(|_| bad_request(format!("since: {text:?} is not a sequence of this source"))),
    }
}

/// `heartbeat=true` means CouchDB's default period.
const DEFAULT_HEARTBEAT_MS: u64 = 60_000;

/// The query of `_changes`: [`ChangesParams`] except `heartbeat`, which CouchDB also takes as
/// `true`.
#[derive(Debug, Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    include_docs: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)] // accepted: every document has one revision, so the styles agree
    style: Option<Style>,
    #[serde(default)]
    feed: Option<Feed>,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    heartbeat: Option<String>,
}

fn parse_heartbeat(text: Option<&str>) -> Result<Option<Duration>, CouchFailure> {
    match text {
        None | Some("false") => Ok(None),
        Some("true") => Ok(Some(Duration::from_millis(DEFAULT_HEARTBEAT_MS))),
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
            _ => Err(bad_request(format!(
                "heartbeat: {ms:?} is not a positive number of ms or true"
            ))),
        },
    }
}

async fn changes(
    State(app): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, CouchFailure> {
    let db = database(&name)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let feed = params.feed.unwrap_or_default();
    if feed == Feed::Eventsource {
        return Err(bad_request(
            "feed: eventsource is not supported (normal, longpoll, continuous are)",
        ));
    }
    let current = *app.store.watch_seq(db).borrow();
    let request = FeedRequest {
        db,
        since: parse_since(params.since.as_deref(), current)?,
        // CouchDB: no limit is the whole feed (streamed, so memory stays bounded).
        limit: params
            .limit
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX).max(1)),
        include_docs: params.include_docs.unwrap_or(false),
        feed,
        timeout: Duration::from_millis(
            params
                .timeout
                .unwrap_or(DEFAULT_TIMEOUT_MS)
                .min(MAX_TIMEOUT_MS),
        ),
        heartbeat: parse_heartbeat(params.heartbeat.as_deref())?,
    };
    Ok(feed::respond(app.store.clone(), request).await)
}

#[derive(Debug, Default, Deserialize)]
struct DocParams {
    #[serde(default)]
    revs: Option<bool>,
    #[serde(default)]
    open_revs: Option<String>,
}

/// The doc as sent: with `_revisions` when asked.
fn doc_json(row: DocRead, revs: bool) -> Value {
    let (generation, hash) = row.rev_parts();
    let revisions = json!({"start": generation, "ids": [hash]});
    let mut doc = row.doc();
    if revs {
        doc.insert("_revisions".into(), revisions);
    }
    Value::Object(doc)
}

async fn get_doc(
    State(app): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    params: Result<Query<DocParams>, QueryRejection>,
) -> Result<Response, CouchFailure> {
    let db = database(&name)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let doc_id = id.clone();
    let row = app.store.blocking(move |s| s.doc(db, &doc_id)).await?;
    let revs = params.revs.unwrap_or(false);
    if params.open_revs.is_some() {
        // `open_revs` asks for leaf revisions as a JSON array; we keep only the newest.
        let answer = match row {
            Some(row) => vec![json!({"ok": doc_json(row, revs)})],
            None => vec![json!({"missing": id})],
        };
        return Ok(Json(answer).into_response());
    }
    match row {
        Some(row) if !row.deleted => Ok(Json(doc_json(row, revs)).into_response()),
        Some(_) => Err(not_found("deleted")),
        None => Err(not_found("missing")),
    }
}

#[derive(Debug, Deserialize)]
struct BulkGetRequest {
    docs: Vec<BulkGetItem>,
}

#[derive(Debug, Deserialize)]
struct BulkGetItem {
    id: String,
}

async fn bulk_get(
    State(app): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<DocParams>, QueryRejection>,
    body: Result<JsonBody<BulkGetRequest>, crate::http_error::ApiError>,
) -> Result<Json<Value>, CouchFailure> {
    let db = database(&name)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let JsonBody(request) = body.map_err(|e| bad_request(e.description))?;
    let revs = params.revs.unwrap_or(false);
    let ids: Vec<String> = request.docs.into_iter().map(|d| d.id).collect();
    let rows = app
        .store
        .blocking(move |s| {
            ids.into_iter()
                .map(|id| Ok((s.doc(db, &id)?, id)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let results: Vec<Value> = rows
        .into_iter()
        .map(|(row, id)| match row {
            // With `latest=true` semantics: the newest revision is what the replicator wants.
            Some(row) => json!({"id": id, "docs": [{"ok": doc_json(row, revs)}]}),
            None => json!({"id": id, "docs": [{"error": {
                "id": id, "rev": "undefined", "error": "not_found", "reason": "missing"}}]}),
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn get_local(
    State(app): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Map<String, Value>>, CouchFailure> {
    let db = database(&name)?;
    match app.store.blocking(move |s| s.local_doc(db, &id)).await? {
        Some(doc) => Ok(Json(doc)),
        None => Err(not_found("missing")),
    }
}

async fn put_local(
    State(app): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    body: Result<JsonBody<Map<String, Value>>, crate::http_error::ApiError>,
) -> Result<(StatusCode, Json<PutResponse>), CouchFailure> {
    let db = database(&name)?;
    let JsonBody(doc) =
        body.map_err(|e| bad_request(format!("body must be a JSON object: {}", e.description)))?;
    let local_id = id.clone();
    let put = app
        .store
        .blocking(move |s| s.put_local_doc(db, &local_id, doc))
        .await?;
    match put {
        LocalPut::Written { rev } => Ok((
            StatusCode::CREATED,
            Json(PutResponse {
                ok: true,
                id: format!("_local/{id}"),
                rev,
            }),
        )),
        LocalPut::Conflict { given, stored } => Err(CouchFailure(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "Document update conflict: _rev {} given, the stored revision is {}",
                given.as_deref().unwrap_or("(none)"),
                stored.as_deref().unwrap_or("(none: no such document)")
            ),
        )),
    }
}
