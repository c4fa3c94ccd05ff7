//! The admin page: `GET /` and its assets under `/admin/`, plain HTML/CSS/JS compiled into the
//! binary (nothing is loaded from elsewhere), and the JSON routes it reads besides the module's
//! own API: `/admin/api/overview`, the sold DB with times (`/admin/api/sold`, export, import:
//! [`backup`]) and the credentials change. Everything here is behind the module's Basic auth.

pub mod backup;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::backend::{Backend, DbReport};
use super::body::JsonBody;
use super::check;
use super::clients::Verdict;
use super::error::ApiError;
use super::metrics::state_name;
use super::{ApiState, auth::CredentialsError};

const INDEX_HTML: &str = include_str!("admin/index.html");
const SCRIPT: &str = include_str!("admin/admin.js");
const STYLE: &str = include_str!("admin/admin.css");

/// Shortest password the page accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Only this origin's own files: nothing from the internet, no inline scripts.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /`: the page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /admin/admin.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /admin/admin.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// What the page shows, in one answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub state: &'static str,
    pub version: String,
    pub inst: String,
    pub inn: String,
    pub service_url: String,
    pub db_version: String,
    pub last_sync: u64,
    pub last_update: u64,
    pub now: u64,
    pub grey_mode: bool,
    pub sold_count: Option<u64>,
    /// The factory `admin`/`admin` is in force.
    pub default_login: bool,
    pub lists: Vec<ListView>,
    pub tills: Vec<TillView>,
}

/// One active list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListView {
    pub name: &'static str,
    pub doc_count: u64,
    pub source_count: Option<u64>,
    pub pulled: bool,
    /// The running (or last) pull, exactly as `syncProgress` in `GET /api/v2/status`.
    pub progress: Option<protocol::lm::SyncProgress>,
}

/// One till (`X-ClientId`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TillView {
    pub client_id: String,
    pub requests: u64,
    pub errors: u64,
    pub checked: u64,
    /// Checked KIs by result (`ok`, `blocked`, `sold`, `invalid`, `not_ready`).
    pub results: std::collections::BTreeMap<&'static str, u64>,
    /// Newest first.
    pub recent: Vec<RecentView>,
}

/// One recent check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecentView {
    pub at: u64,
    pub ki: String,
    pub result: &'static str,
}

fn list_view(db: &DbReport) -> ListView {
    ListView {
        name: db.name,
        doc_count: db.local_count,
        source_count: db.server_count,
        pulled: db.pulled,
        progress: db.progress.map(|progress| progress.to_wire(db.pulled)),
    }
}

/// `GET /admin/api/overview`.
pub async fn overview<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
) -> Result<Json<Overview>, ApiError> {
    let snapshot = state.snapshot().map_err(check::module_error)?;
    let tills = state
        .clients
        .snapshot()
        .into_iter()
        .map(|till| TillView {
            results: Verdict::ALL
                .iter()
                .map(|verdict| (verdict.as_str(), till.by_verdict[*verdict as usize]))
                .collect(),
            recent: till
                .recent
                .iter()
                .map(|check| RecentView {
                    at: check.at_ms,
                    ki: check.ki.clone(),
                    result: check.verdict.as_str(),
                })
                .collect(),
            client_id: till.client_id,
            requests: till.requests,
            errors: till.errors,
            checked: till.checked,
        })
        .collect();
    Ok(Json(Overview {
        state: state_name(&snapshot.state),
        version: state.software_version.clone(),
        lists: snapshot.dbs.iter().map(list_view).collect(),
        inst: snapshot.inst.clone(),
        inn: snapshot.inn.clone(),
        service_url: snapshot.service_url.clone(),
        db_version: snapshot.db_version.clone(),
        last_sync: snapshot.last_sync,
        last_update: snapshot.last_update,
        now: state.backend.now_ms(),
        grey_mode: snapshot.grey_mode,
        sold_count: state.backend.sold_count().ok(),
        default_login: state.auth.is_default(),
        tills,
    }))
}

/// Body of `POST /admin/api/credentials`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsChange {
    pub login: String,
    pub password: String,
}

impl super::body::BodyShape for CredentialsChange {
    const SHAPE: &'static str = r#"{"login": string, "password": string}"#;
}

/// `POST /admin/api/credentials`: a new login and password (argon2id hash in
/// `credentials.toml`, as `znak lm passwd` writes it), in force at once.
pub async fn credentials<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    JsonBody(change): JsonBody<CredentialsChange>,
) -> Result<Json<super::v2::Done>, ApiError> {
    if change.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "the password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    state
        .auth
        .change(change.login.trim(), &change.password)
        .await
        .map_err(|err| match err {
            CredentialsError::Invalid => ApiError::bad_request(err.to_string()),
            other => ApiError::internal(format!("credentials not changed: {other}")),
        })?;
    tracing::info!(
        login = change.login.trim(),
        "API credentials changed from the admin page"
    );
    Ok(Json(super::v2::Done {
        code: 0,
        description: "ok",
    }))
}
