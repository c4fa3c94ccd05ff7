//! Starting the real API server on 127.0.0.1:0 and talking to it over real sockets: over the
//! test double [`FakeBackend`], or as the real module ([`start_lm`]) fed by the real operator
//! emulator ([`start_emulator`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use central::Config;
use central::client::AdminClient;
use lm::api::{
    ApiState, Auth, AuthThrottle, Backend, BackendError, CodeFacts, ServeConfig, Snapshot,
    ThrottlePolicy, run_module, serve,
};
use lm::{ManualClock, Module, ModuleConfig, Poll};
use protocol::lm::{ModuleState, OperationMode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running server.
pub struct Server<B: Backend> {
    pub addr: SocketAddr,
    pub base: String,
    pub state: Arc<ApiState<B>>,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Timeouts short enough that the slow-request tests end quickly.
pub fn quick_serve_config() -> ServeConfig {
    ServeConfig {
        max_connections: 64,
        header_timeout: Duration::from_millis(500),
    }
}

pub async fn start<B: Backend>(backend: B, auth: Auth) -> Server<B> {
    let mut state = ApiState::new(backend, auth);
    // Short enough that the never-arriving-body test ends quickly, long enough for an argon2
    // credential check in a debug build on a loaded machine (500 ms made the auth matrix flaky).
    state.request_timeout = Duration::from_secs(3);
    // The auth matrix sends many wrong credentials on purpose; the throttle has its own tests.
    state.throttle = AuthThrottle::new(ThrottlePolicy {
        allowed_failures: 100_000,
        forgive_every: Duration::from_millis(1),
    });
    start_with(Arc::new(state), quick_serve_config()).await
}

pub async fn start_with<B: Backend>(state: Arc<ApiState<B>>, config: ServeConfig) -> Server<B> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let state = state.clone();
        let shutdown = shutdown.clone();
        async move {
            serve(state, listener, config, shutdown)
                .await
                .expect("serve");
        }
    });
    Server {
        addr,
        base: format!("http://{addr}"),
        state,
        http: http_client(),
        shutdown,
        task: Some(task),
    }
}

/// A plain-HTTP client (reqwest is built without a TLS provider of its own).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

impl<B: Backend> Server<B> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for open requests to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl<B: Backend> Drop for Server<B> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn basic(login: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    format!("Basic {encoded}")
}

pub fn admin() -> String {
    basic("admin", "admin")
}

/// Status and JSON body of a response; fails the test on a non-JSON body.
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("status {status}: body is not JSON ({err}): {text:?}"));
    (status, value)
}

/// Asserts the error shape `{"code": status, "description": non-empty}`.
pub fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], expected, "{body}");
    let description = body["description"]
        .as_str()
        .expect("description is a string");
    assert!(!description.is_empty());
}

/// Test double of the module behind the API: a fixed status, fixed lists, an in-memory sold
/// set. For tests of the HTTP layer itself (errors, auth); answers from the real store and
/// lifecycle are tested with `lm::Module` in `node.rs`.
#[derive(Debug)]
pub struct FakeBackend {
    pub state: Mutex<ModuleState>,
    pub blocked: BTreeSet<String>,
    pub sold: Mutex<BTreeSet<String>>,
    /// `facts` panics for this KI (tests the panic guard).
    pub panic_on: Option<String>,
}

impl FakeBackend {
    pub fn ready() -> FakeBackend {
        FakeBackend {
            state: Mutex::new(ModuleState::Ready),
            blocked: BTreeSet::new(),
            sold: Mutex::new(BTreeSet::new()),
            panic_on: None,
        }
    }

    pub fn set_state(&self, state: ModuleState) {
        *self.state.lock().unwrap() = state;
    }
}

impl Backend for FakeBackend {
    fn now_ms(&self) -> u64 {
        1_775_204_403_800
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot {
            state: self.state.lock().unwrap().clone(),
            mode: OperationMode::Active,
            inst: "fake-inst".into(),
            inn: "7731376812".into(),
            service_url: "http://127.0.0.1:1".into(),
            db_version: "fake-version".into(),
            last_sync: 1,
            last_update: 1,
            grey_mode: false,
            dbs: Vec::new(),
            extensions: Default::default(),
            valid_until: u64::MAX,
        })
    }

    fn facts(&self, ki: &str, _gtin: &str) -> Result<CodeFacts, BackendError> {
        if self.panic_on.as_deref() == Some(ki) {
            panic!("test double told to panic");
        }
        Ok(CodeFacts {
            ki_blocked: self.blocked.contains(ki),
            sold: self.sold.lock().unwrap().contains(ki),
            ..CodeFacts::default()
        })
    }

    fn sell(&self, ki: &str) -> Result<bool, BackendError> {
        Ok(self.sold.lock().unwrap().insert(ki.to_owned()))
    }

    fn unsell(&self, ki: &str) -> Result<bool, BackendError> {
        Ok(self.sold.lock().unwrap().remove(ki))
    }

    fn sold_page(&self, skip: u64, limit: u64) -> Result<(u64, Vec<String>), BackendError> {
        let sold = self.sold.lock().unwrap();
        let page = sold
            .iter()
            .skip(skip as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok((sold.len() as u64, page))
    }

    async fn init(&self, _token: String, _clear: bool, _grey: bool) -> Result<(), BackendError> {
        Err(BackendError::Upstream(
            "the test double does not register".into(),
        ))
    }

    async fn set_grey_mode(&self, _enable: bool) -> Result<(), BackendError> {
        Ok(())
    }
}

// The real module fed by the real operator emulator, both in-process on loopback.

pub struct Emulator {
    pub url: String,
    pub admin: AdminClient,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub async fn start_emulator() -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let urls = central::start_on_loopback(Config::new(dir.path()), 0, std::future::pending())
        .await
        .unwrap()
        .urls;
    let admin = AdminClient::new(&urls.main).unwrap();
    let token = admin.token("7700000001").await.unwrap();
    Emulator {
        url: urls.main,
        admin,
        token,
        _dir: dir,
    }
}

pub struct Lm {
    pub base: String,
    pub state: Arc<ApiState<Module>>,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Lm {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A module on a fresh data dir, API on 127.0.0.1:0 with the default login.
pub async fn start_lm(service_url: &str, poll: Poll) -> Lm {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ModuleConfig::new(dir.path(), service_url);
    config.poll = poll;
    config.backoff_min = Duration::from_millis(20);
    let clock = ManualClock::at(now_ms());
    let module = Module::open(config.clone(), clock.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let state = Arc::new(ApiState::new(module, Auth::new(None, vec![])));
    tokio::spawn({
        let state = state.clone();
        let shutdown = shutdown.clone();
        async move {
            run_module(state, ServeConfig::default(), listener, shutdown)
                .await
                .expect("module runs");
        }
    });
    Lm {
        base,
        state,
        clock,
        http: http_client(),
        shutdown,
        _dir: dir,
    }
}

impl Lm {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// Sends `request` with the default login: status and JSON body.
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.header("Authorization", admin()).send().await;
        json_of(response.unwrap()).await
    }

    pub async fn clients(&self) -> Vec<lm::api::ClientSnapshot> {
        self.state.clients.snapshot()
    }

    /// One KI through v2 outCheck: its `codes[0]`.
    pub async fn check(&self, ki: &str, pg: Option<u16>) -> Value {
        let mut item = json!({"cis": ki});
        if let Some(pg) = pg {
            item["pg"] = json!(pg);
        }
        let (status, body) = self
            .post("/api/v2/cis/outCheck", json!({"cis_list": [item]}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["results"][0]["codes"][0].clone()
    }

    pub async fn init(&self, token: &str, grey: bool) {
        let body = json!({"token": token, "enableGreyList": grey});
        let (status, answer) = self.post("/api/v2/init", body).await;
        assert_eq!(status, 200, "{answer}");
        self.wait_status("ready").await;
    }

    pub async fn wait_status(&self, wanted: &str) -> Value {
        eventually(|| async {
            let (_, status) = self.get("/api/v2/status").await;
            (status["status"] == wanted).then_some(status)
        })
        .await
    }
}

/// Polls `probe` until it yields, for at most 20 s (the sync engine works in the background).
pub async fn eventually<T, F: Future<Output = Option<T>>>(mut probe: impl FnMut() -> F) -> T {
    for _ in 0..1000 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached within 20 s");
}

pub fn gtin(i: usize) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

pub fn ki(gtin_index: usize, serial: &str) -> String {
    format!("01{}21{serial}", gtin(gtin_index))
}

pub const FAST: Poll = Poll::Longpoll(Duration::from_millis(200));
