//! Test doubles: a scripted True API CDN host and a scripted local module, each a small axum
//! server on 127.0.0.1:0. They are doubles, not emulators: every answer is set by the test.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            delay: Duration::ZERO,
        }
    }
    /// Never answers within any deadline a test uses.
    pub fn hang() -> Self {
        Self {
            status: 200,
            body: Value::Null,
            delay: Duration::from_secs(3600),
        }
    }
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Requests seen and answers to give, shared between the test and the server.
#[derive(Default)]
pub struct Script {
    pub queue: VecDeque<Reply>,
    pub default: Option<Reply>,
    pub requests: Vec<(String, HeaderMap, Value)>,
}

#[derive(Clone, Default)]
pub struct Double {
    pub script: Arc<Mutex<Script>>,
    /// Module doubles: what `GET /api/v{1,2}/status` answers (404 while unset), and the
    /// status paths asked, kept apart from `script` so status polls never eat scripted replies.
    pub status: Arc<Mutex<StatusScript>>,
    pub url: String,
}

#[derive(Default)]
pub struct StatusScript {
    pub v2: Option<Reply>,
    pub v1: Option<Reply>,
    pub polls: Vec<String>,
}

impl Double {
    /// Answers every request with `reply` unless something is queued.
    pub fn always(&self, reply: Reply) {
        self.script.lock().expect("lock").default = Some(reply);
    }
    pub fn then(&self, reply: Reply) {
        self.script.lock().expect("lock").queue.push_back(reply);
    }
    pub fn requests(&self) -> Vec<(String, HeaderMap, Value)> {
        self.script.lock().expect("lock").requests.clone()
    }
    /// Sets the `status` answer of a module double (`v2`; `v1` for an old module).
    pub fn status_v2(&self, reply: Option<Reply>) {
        self.status.lock().expect("lock").v2 = reply;
    }
    pub fn status_v1(&self, reply: Option<Reply>) {
        self.status.lock().expect("lock").v1 = reply;
    }
    pub fn status_polls(&self) -> Vec<String> {
        self.status.lock().expect("lock").polls.clone()
    }
    pub fn count(&self, path_end: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.0.ends_with(path_end))
            .count()
    }
}

async fn scripted(
    State(double): State<Double>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let reply = {
        let mut script = double.script.lock().expect("lock");
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        script.requests.push((uri.path().to_owned(), headers, body));
        script.queue.pop_front().or_else(|| script.default.clone())
    };
    let Some(reply) = reply else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "double has no scripted answer",
        )
            .into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(reply.body)).into_response()
}

async fn status(State(double): State<Double>, uri: axum::http::Uri) -> Response {
    let reply = {
        let mut script = double.status.lock().expect("lock");
        script.polls.push(uri.path().to_owned());
        if uri.path().starts_with("/api/v2/") {
            script.v2.clone()
        } else {
            script.v1.clone()
        }
    };
    let Some(reply) = reply else {
        let body = json!({"code": 404, "description": "no such method"});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let code = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(reply.body)).into_response()
}

/// A module `status` body in state `status` (protocol.md §3.3).
pub fn module_status(status: &str) -> Value {
    json!({"lastSync": 1731658318006_i64, "version": "1.6.2.0", "name": "regime",
           "inst": "4c182ce0-a325-42a9-ab9e-b5e562cc8721", "status": status,
           "operationMode": "active", "dbVersion": "52cadcfe-a28f-4877-8b2f-da0481ddf1fa",
           "serviceUrl": "http://127.0.0.1:9", "lastUpdate": 1731658318006_i64,
           "inn": "7700000000", "isGreyGtin": false})
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({"code": 0, "description": "ok", "avgTimeMs": 5}))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A CDN host double: scripted `codes/check`, always-healthy health check.
pub async fn cdn_host() -> Double {
    let mut double = Double::default();
    let router = Router::new()
        .route("/api/v4/true-api/codes/check", post(scripted))
        .route("/api/v4/true-api/cdn/health/check", get(health))
        .with_state(double.clone());
    double.url = serve(router).await;
    double
}

/// A `cdn/info` double listing `hosts`.
pub async fn info_host(hosts: Vec<String>) -> String {
    let list: Vec<Value> = hosts.into_iter().map(|h| json!({"host": h})).collect();
    let body = json!({"code": 0, "description": "ok", "hosts": list});
    let router = Router::new().route(
        "/api/v4/true-api/cdn/info",
        get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    serve(router).await
}

/// A local-module double: scripted v2 and v1 `outCheck`, `sell`, `return`.
pub async fn module() -> Double {
    let mut double = Double::default();
    let router = Router::new()
        .route("/api/v2/cis/outCheck", post(scripted))
        .route("/api/v1/cis/outCheck", post(scripted))
        .route("/api/v2/cis/sell", post(scripted))
        .route("/api/v2/cis/return", post(scripted))
        .route("/api/v2/status", get(status))
        .route("/api/v1/status", get(status))
        .with_state(double.clone());
    double.url = serve(router).await;
    double
}

/// An address where nothing listens.
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// A healthy online answer for `km` in group `pg`.
pub fn online_ok(km: &str, pg: u32) -> Value {
    json!({
        "code": 0, "description": "ok",
        "codes": [{"cis": km, "valid": true, "found": true, "verified": true, "realizable": true,
                   "utilised": true, "isBlocked": false, "sold": false, "groupIds": [pg],
                   "errorCode": 0}],
        "reqId": "2ce10bdb-6510-4d37-be04-dd473b98c728",
        "reqTimestamp": 1692691702065_i64
    })
}

/// A v2 module answer for `ki`.
pub fn module_ok(ki: &str, sold: bool) -> Value {
    json!({"results": [{
        "code": 0, "description": "ok",
        "codes": [{"cis": ki, "gtin": "04670540176099", "isBlocked": false, "isGreyGtin": false,
                   "sold": sold, "smp": 153000}],
        "reqId": "638f669e-7e8e-85a9-3453-2c429d001150",
        "reqTimestamp": 1731658318006_i64,
        "inst": "4c182ce0-a325-42a9-ab9e-b5e562cc8721",
        "version": "52cadcfe-a28f-4877-8b2f-da0481ddf1fa"
    }]})
}

pub const OFFLINE_TAG: &str = "UUID=638f669e-7e8e-85a9-3453-2c429d001150&Time=1731658318006&Inst=4c182ce0-a325-42a9-ab9e-b5e562cc8721&Ver=52cadcfe-a28f-4877-8b2f-da0481ddf1fa";
pub const ONLINE_TAG: &str = "UUID=2ce10bdb-6510-4d37-be04-dd473b98c728&Time=1692691702065";

/// A test double of a module that loses sales: `cis/sell` answers 201 `success: true` but,
/// while `lose` is set, does not keep the KI (as a module that crashed before its commit or
/// was restored from an old backup); `cis/sold` lists what it kept.
#[derive(Clone, Default)]
pub struct ForgetfulModule {
    pub url: String,
    pub state: Arc<Mutex<Forgetful>>,
}

#[derive(Default)]
pub struct Forgetful {
    pub kept: std::collections::BTreeSet<String>,
    pub lose: bool,
    pub sells: Vec<Vec<String>>,
    pub sold_reads: usize,
}

impl ForgetfulModule {
    pub fn lose_sales(&self, lose: bool) {
        self.state.lock().expect("lock").lose = lose;
    }
    pub fn sells(&self) -> Vec<Vec<String>> {
        self.state.lock().expect("lock").sells.clone()
    }
    pub fn sold_reads(&self) -> usize {
        self.state.lock().expect("lock").sold_reads
    }
    pub fn kept(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("lock")
            .kept
            .iter()
            .cloned()
            .collect()
    }
}

pub async fn forgetful_module() -> ForgetfulModule {
    async fn sell(
        State(double): State<ForgetfulModule>,
        axum::Json(body): axum::Json<Value>,
    ) -> Response {
        let kis: Vec<String> = body["cis_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let mut state = double.state.lock().expect("lock");
        state.sells.push(kis.clone());
        if !state.lose {
            state.kept.extend(kis.iter().cloned());
        }
        let results: Vec<Value> = kis
            .iter()
            .map(|k| json!({"success": true, "cis": k}))
            .collect();
        (StatusCode::CREATED, axum::Json(json!({"results": results}))).into_response()
    }
    async fn sold(
        State(double): State<ForgetfulModule>,
        axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, u64>>,
    ) -> axum::Json<Value> {
        let mut state = double.state.lock().expect("lock");
        state.sold_reads += 1;
        let skip = query.get("skip").copied().unwrap_or(0) as usize;
        let limit = query.get("limit").copied().unwrap_or(100) as usize;
        let page: Vec<&String> = state.kept.iter().skip(skip).take(limit).collect();
        axum::Json(json!({"total_count": state.kept.len(), "cis_list": page}))
    }
    let mut double = ForgetfulModule::default();
    let router = Router::new()
        .route("/api/v2/cis/sell", post(sell))
        .route("/api/v2/cis/sold", get(sold))
        .with_state(double.clone());
    double.url = serve(router).await;
    double
}
