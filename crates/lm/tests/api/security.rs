//! Security: every route of the route table refuses missing or wrong credentials (except the
//! open ones), repeated failures from one address get 429 + Retry-After, secrets never reach
//! the log, plain HTTP off loopback is warned about.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use lm::api::{
    Access, ApiState, Auth, AuthThrottle, ServeConfig, StoredCredentials, ThrottlePolicy, routes,
    run_module, serve,
};
use lm::{ManualClock, Module, ModuleConfig, Status};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    FAST, FakeBackend, assert_error, basic, http_client, json_of, now_ms, start_emulator,
    start_with,
};

/// Routes that may answer without credentials: `status` (the till polls it first) and
/// `/metrics` (scrapers; Basic when `metrics_require_auth`).
const OPEN_ALLOWED: &[&str] = &["/api/v1/status", "/api/v2/status", "/metrics"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];
const LOGIN: &str = "kassa";
const PASSWORD: &str = "Pa55-word-never-logged";
const WRONG_PASSWORD: &str = "guess-never-logged-either";
const TOKEN: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
/// A till's fiscal drive number, as tills send it in `X-ClientId`.
const CLIENT_ID: &str = "9999078900001111";

fn stored_auth() -> Auth {
    let stored = StoredCredentials::new(LOGIN, PASSWORD).unwrap();
    Auth::new(Some(stored), vec![Uuid::parse_str(TOKEN).unwrap()])
}

fn lenient(mut state: ApiState<FakeBackend>) -> Arc<ApiState<FakeBackend>> {
    state.throttle = AuthThrottle::new(ThrottlePolicy {
        allowed_failures: 100_000,
        forgive_every: Duration::from_millis(1),
    });
    Arc::new(state)
}

#[tokio::test]
async fn every_route_of_the_table_refuses_requests_without_valid_credentials() {
    let server = start_with(
        lenient(ApiState::new(FakeBackend::ready(), stored_auth())),
        crate::support::quick_serve_config(),
    )
    .await;
    let table = routes::<FakeBackend>();
    assert!(table.len() >= 11, "{table:?}");
    let wrong = [
        None,
        Some(basic(LOGIN, WRONG_PASSWORD)),
        Some(basic("admin", "admin")),
        Some(format!("Token {}", Uuid::new_v4())),
        Some("Bearer x".to_owned()),
    ];
    for route in &table {
        if route.access == Access::Open {
            assert!(
                OPEN_ALLOWED.contains(&route.path),
                "{} is open to anyone: only {OPEN_ALLOWED:?} may be",
                route.path
            );
        }
        for method in METHODS {
            let served = route.methods.contains(method);
            for authorization in &wrong {
                let mut request = server
                    .http
                    .request(method.parse().unwrap(), server.url(route.path))
                    .json(&json!({"cis_list": ["x"], "token": "t"}));
                if let Some(value) = authorization {
                    request = request.header("Authorization", value);
                }
                let response = request.send().await.unwrap();
                if served && route.access == Access::Open {
                    // Open routes answer (status JSON, /metrics text); their content is
                    // checked by their own tests.
                    assert!(response.status().is_success(), "{} {method}", route.path);
                    continue;
                }
                let (status, body) = json_of(response).await;
                let expected = match (served, route.access) {
                    (false, _) => 405,
                    (true, Access::Open) => status, // answers; checked by the status tests
                    (true, _) => 401,
                };
                assert_eq!(
                    status, expected,
                    "{method} {} with {authorization:?}: {body}",
                    route.path
                );
                if expected != 200 {
                    assert_error(status, &body, expected);
                }
            }
        }
    }
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429_with_retry_after() {
    let mut state = ApiState::new(FakeBackend::ready(), stored_auth());
    state.throttle = AuthThrottle::new(ThrottlePolicy {
        allowed_failures: 3,
        forgive_every: Duration::from_secs(60),
    });
    let server = start_with(Arc::new(state), crate::support::quick_serve_config()).await;
    let sell = |authorization: String| {
        server
            .http
            .post(server.url("/api/v2/cis/sell"))
            .header("Authorization", authorization)
            .json(&json!({"cis_list": ["0104600000000001215abcdef"]}))
            .send()
    };
    // A request without credentials is not a guess and does not count.
    for _ in 0..10 {
        let response = server
            .http
            .get(server.url("/api/v2/cis/sold"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    for _ in 0..4 {
        let (status, body) = json_of(sell(basic(LOGIN, WRONG_PASSWORD)).await.unwrap()).await;
        assert_error(status, &body, 401);
    }
    for authorization in [
        basic(LOGIN, WRONG_PASSWORD),
        basic(LOGIN, PASSWORD), // even the right one: a right guess is not revealed
        format!("Token {TOKEN}"),
    ] {
        let response = sell(authorization).await.unwrap();
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let (status, body) = json_of(response).await;
        assert_error(status, &body, 429);
        assert!(body["description"].as_str().unwrap().contains("retry in"));
    }
    let status = server.http.get(server.url("/api/v2/status")).send().await;
    assert_eq!(status.unwrap().status().as_u16(), 200, "status stays open");
}

/// Everything logged while `body` runs (current-thread runtime: every task logs here).
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn tokens_and_passwords_never_reach_the_log_and_the_till_is_named() {
    let log = CapturedLog::default();
    let _guard = log.install();
    let emulator = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = ModuleConfig::new(dir.path(), &emulator.url);
    config.poll = FAST;
    let module = Module::open(config, ManualClock::at(now_ms()));
    let state = Arc::new(ApiState::new(module, stored_auth()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(run_module(
        state.clone(),
        ServeConfig::default(),
        listener,
        shutdown.clone(),
    ));
    let http = http_client();
    let good = basic(LOGIN, PASSWORD);
    let init = http
        .post(format!("{base}/api/v2/init"))
        .header("Authorization", &good)
        .json(&json!({"token": emulator.token}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status().as_u16(), 200);
    state
        .backend
        .wait_until(|status| status.status == Status::Ready)
        .await;
    let wrong_token = Uuid::new_v4().to_string();
    for authorization in [
        basic(LOGIN, WRONG_PASSWORD),
        basic(PASSWORD, PASSWORD),
        format!("Token {wrong_token}"),
        good.clone(),
        format!("Token {TOKEN}"),
    ] {
        let response = http
            .post(format!("{base}/api/v2/cis/outCheck"))
            .header("Authorization", authorization)
            .header("X-ClientId", CLIENT_ID)
            .json(&json!({"cis_list": [{"cis": "0104600000000001215abcdef"}]}))
            .send()
            .await
            .unwrap();
        assert!([200, 401].contains(&response.status().as_u16()));
    }
    shutdown.cancel();
    server.await.unwrap().unwrap();

    let text = log.text();
    assert!(
        text.contains("local module API listening") && text.lines().count() > 10,
        "the capture works: {text}"
    );
    // The till is named in the log of its requests, refused or answered.
    let named = text
        .lines()
        .filter(|line| line.contains(&format!("client_id={CLIENT_ID}")))
        .count();
    assert!(named >= 5, "X-ClientId not in the log:\n{text}");
    let encoded = |secret: &str| base64::engine::general_purpose::STANDARD.encode(secret);
    for secret in [
        emulator.token.clone(),
        PASSWORD.to_owned(),
        WRONG_PASSWORD.to_owned(),
        TOKEN.to_owned(),
        wrong_token,
        encoded(&format!("{LOGIN}:{PASSWORD}")),
        encoded(&format!("{LOGIN}:{WRONG_PASSWORD}")),
    ] {
        assert!(!text.contains(&secret), "{secret:?} is in the log:\n{text}");
    }
}

#[tokio::test]
async fn plain_http_off_loopback_is_warned_about() {
    let log = CapturedLog::default();
    let _guard = log.install();
    for (address, warned) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
        let listener = TcpListener::bind(address).await.unwrap();
        let state = Arc::new(ApiState::new(FakeBackend::ready(), stored_auth()));
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let before = log.text().len();
        serve(state, listener, ServeConfig::default(), shutdown)
            .await
            .unwrap();
        let text = log.text()[before..].to_owned();
        assert_eq!(text.contains("TLS is off"), warned, "{address}: {text}");
        if warned {
            assert!(text.contains("WARN"), "{text}");
        }
    }
}
