//! Test double of the operator: registration plus a CouchDB-protocol list source, in memory, on
//! 127.0.0.1:0, with fault knobs (5xx, truncated and garbled bodies, an unreachable source) and
//! a log of the `since` values asked for.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lm::{InitRequest, ManualClock, Module, ModuleConfig, Poll};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "good-token";

/// The `init` most tests send: the double's good token, sold DB kept, grey mode off.
pub fn init_request() -> InitRequest {
    InitRequest {
        token: TOKEN.into(),
        clear_sold: false,
        enable_grey_list: false,
    }
}

/// `GET {base}/api/{version}/status` with the default login; asserts 200 and returns the JSON.
pub async fn http_status(http: &reqwest::Client, base: &str, version: &str) -> Value {
    let response = http
        .get(format!("{base}/api/{version}/status"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{version} status");
    response.json().await.unwrap()
}

#[derive(Default)]
pub struct FakeDb {
    seq: u64,
    log: BTreeMap<u64, (String, bool, Value)>,
    latest: HashMap<String, u64>,
}

impl FakeDb {
    fn put(&mut self, id: &str, deleted: bool, doc: Value) {
        self.seq += 1;
        if let Some(old) = self.latest.insert(id.to_owned(), self.seq) {
            self.log.remove(&old);
        }
        self.log.insert(self.seq, (id.to_owned(), deleted, doc));
    }

    fn doc_count(&self) -> u64 {
        self.log.values().filter(|(_, deleted, _)| !deleted).count() as u64
    }
}

#[derive(Default)]
pub struct Faults {
    /// The next N replication requests answer 500.
    pub fail_next: usize,
    /// The next N `_changes` bodies are cut in half.
    pub truncate_next: usize,
    /// The next N `_changes` bodies are not JSON.
    pub garbage_next: usize,
    /// Every replication request answers 503 while set.
    pub down: bool,
    /// After this many more `_changes` answers the source goes `down`.
    pub down_after_changes: Option<usize>,
}

#[derive(Default)]
pub struct FakeState {
    pub dbs: HashMap<String, FakeDb>,
    pub faults: Faults,
    /// (db, since) of every `_changes` request.
    pub since_log: Vec<(String, Option<String>)>,
    pub registrations: u64,
    /// Where registration sends the module: this double's own `/repl` unless set.
    pub replication_url: Option<String>,
    base_url: String,
}

#[derive(Clone)]
pub struct FakeOperator {
    pub state: Arc<Mutex<FakeState>>,
    pub url: String,
}

impl FakeOperator {
    pub async fn start() -> FakeOperator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState {
            base_url: url.clone(),
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/lm/v1/register", post(register))
            .route("/repl/{db}", get(info))
            .route("/repl/{db}/_changes", get(changes))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeOperator { state, url }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn put(&self, db: &str, id: &str, doc: Value) {
        self.with(|s| s.dbs.entry(db.into()).or_default().put(id, false, doc));
    }

    pub fn delete(&self, db: &str, id: &str) {
        self.with(|s| s.dbs.entry(db.into()).or_default().put(id, true, json!({})));
    }

    /// `n` blocked KIs, `n / 10` blocked GTINs and grey GTINs, `n / 2` prices.
    pub fn fill(&self, n: u64) {
        for i in 0..n {
            let ki = ki(i);
            self.put("blocked_cis", &ki, json!({"_id": ki, "gtin": gtin(i % 97)}));
        }
        for i in 0..n / 10 {
            self.put("blocked_gtin", &gtin(i), json!({"_id": gtin(i)}));
            self.put("grey_gtin", &gtin(1000 + i), json!({"_id": gtin(1000 + i)}));
        }
        for i in 0..n / 2 {
            self.put(
                "min_price",
                &gtin(i),
                json!({"_id": gtin(i), "mrp": 10000 + i, "smp": 20000 + i}),
            );
        }
    }

    pub fn doc_count(&self, db: &str) -> u64 {
        self.with(|s| s.dbs.get(db).map(FakeDb::doc_count).unwrap_or(0))
    }
}

pub fn ki(i: u64) -> String {
    format!("0104600000000000215KI{i:06}")
}

pub fn gtin(i: u64) -> String {
    format!("{:014}", 4_600_000_000_000 + i)
}

async fn register(State(state): State<Arc<Mutex<FakeState>>>, body: String) -> Response {
    let token = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_owned));
    let mut state = state.lock().unwrap();
    if token.as_deref() != Some(TOKEN) {
        let body = json!({"code": 401, "description": "unknown token"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    state.registrations += 1;
    let n = state.registrations;
    axum::Json(json!({
        "inst": format!("00000000-0000-4000-8000-{n:012}"),
        "inn": "7700000001",
        "replication": {
            "url": state.replication_url.clone().unwrap_or(format!("{}/repl", state.base_url)),
            "databases": {"blockedCis": "blocked_cis", "blockedGtin": "blocked_gtin",
                          "greyGtin": "grey_gtin", "minPrice": "min_price"},
            "username": "lm", "password": "secret"
        }
    }))
    .into_response()
}

fn fault(state: &mut FakeState) -> Option<Response> {
    if state.faults.down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "down").into_response());
    }
    if state.faults.fail_next > 0 {
        state.faults.fail_next -= 1;
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"boom\"}").into_response());
    }
    None
}

async fn info(State(state): State<Arc<Mutex<FakeState>>>, Path(db): Path<String>) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(response) = fault(&mut state) {
        return response;
    }
    let fake = state.dbs.entry(db.clone()).or_default();
    axum::Json(json!({"db_name": db, "doc_count": fake.doc_count(), "update_seq": format!("{}-fake", fake.seq)}))
        .into_response()
}

async fn changes(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(db): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let longpoll = query.get("feed").is_some_and(|feed| feed == "longpoll");
    let since_text = query.get("since").cloned();
    let since: u64 = since_text
        .as_deref()
        .and_then(|s| s.split('-').next()?.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    if longpoll {
        // Hold the request briefly; the engine re-pulls after it returns anyway.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut state = state.lock().unwrap();
    state.since_log.push((db.clone(), since_text));
    match state.faults.down_after_changes {
        Some(0) => {
            state.faults.down = true;
            state.faults.down_after_changes = None;
        }
        Some(left) => state.faults.down_after_changes = Some(left - 1),
        None => {}
    }
    if let Some(response) = fault(&mut state) {
        return response;
    }
    let fake = state.dbs.entry(db).or_default();
    let rows: Vec<_> = fake.log.range(since + 1..).collect();
    let pending = rows.len().saturating_sub(limit);
    let results: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|(seq, (id, deleted, doc))| {
            let mut row =
                json!({"seq": format!("{seq}-fake"), "id": id, "changes": [{"rev": "1-x"}]});
            if *deleted {
                row["deleted"] = json!(true);
            } else {
                row["doc"] = doc.clone();
            }
            row
        })
        .collect();
    let last = rows
        .get(limit.min(rows.len()).wrapping_sub(1))
        .map(|(seq, _)| **seq)
        .unwrap_or(fake.seq.max(since));
    let body = json!({"results": results, "last_seq": format!("{last}-fake"), "pending": pending})
        .to_string();
    if state.faults.truncate_next > 0 {
        state.faults.truncate_next -= 1;
        return body[..body.len() / 2].to_owned().into_response();
    }
    if state.faults.garbage_next > 0 {
        state.faults.garbage_next -= 1;
        return "<html>proxy error</html>".into_response();
    }
    ([("content-type", "application/json")], body).into_response()
}

/// A module on a fresh data dir pointed at `operator`, polling fast, backing off briefly.
pub fn config(dir: &std::path::Path, operator: &FakeOperator) -> ModuleConfig {
    let mut config = ModuleConfig::new(dir, operator.url.clone());
    config.poll = Poll::Interval(Duration::from_millis(30));
    config.batch_limit = 7;
    config.commit_changes = 7;
    config.backoff_min = Duration::from_millis(5);
    config.backoff_max = Duration::from_millis(40);
    config
}

pub const T0: u64 = 1_775_204_403_800;

pub struct Running {
    pub module: Module,
    pub clock: Arc<ManualClock>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn start(config: ModuleConfig, clock: Arc<ManualClock>) -> Running {
        let module = Module::open(config, clock.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let module = module.clone();
            let shutdown = shutdown.clone();
            async move { module.run(shutdown).await }
        });
        Running {
            module,
            clock,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) -> Arc<ManualClock> {
        self.shutdown.cancel();
        self.task.await.unwrap();
        drop(self.module);
        self.clock
    }

    /// Waits (at most 20 s) for `done`.
    pub async fn until(
        &self,
        what: &str,
        done: impl Fn(&lm::StatusSnapshot) -> bool,
    ) -> lm::StatusSnapshot {
        match tokio::time::timeout(Duration::from_secs(20), self.module.wait_until(done)).await {
            Ok(snapshot) => snapshot,
            Err(_) => panic!("timed out waiting for {what}: {:#?}", self.module.status()),
        }
    }
}

pub fn count(snapshot: &lm::StatusSnapshot, db: store::ListDb) -> Option<u64> {
    snapshot
        .databases
        .iter()
        .find(|d| d.db == db)
        .map(|d| d.doc_count)
}
