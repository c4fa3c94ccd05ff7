//! Random input to every route of the module's route table over real sockets: random JSON
//! shapes, random bytes as bodies, random query strings, methods and content types, with and
//! without credentials, and raw garbage instead of an HTTP request. The real module (a ready
//! one, synced from a test-double operator) answers every time, within a bound, never with a 5xx
//! for a client mistake, and with a JSON error body on every JSON route.
//!
//! `ZNAK_RANDOM_INPUT_CASES` (default 600) and `ZNAK_RANDOM_INPUT_SEED` (printed) tune it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lm::api::{ApiState, Auth, AuthThrottle, ServeConfig, ThrottlePolicy, routes, run_module};
use lm::{ManualClock, Module, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use support::{FakeOperator, T0, config, init_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Keys the handlers look for, so random objects reach past the first check now and then.
const KEYS: [&str; 14] = [
    "cis_list",
    "cis",
    "token",
    "enableGreyList",
    "clearSold",
    "pg",
    "price",
    "skip",
    "limit",
    "login",
    "password",
    "currentPassword",
    "entries",
    "codes",
];

fn random_string(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => String::new(),
        1 => "0104600000000000215KI000001".into(),
        2 => "010460000000000021".repeat(rng.random_range(1..40)),
        3 => (0..rng.random_range(1..30))
            .map(|_| char::from_u32(rng.random_range(0..0x3000)).unwrap_or('x'))
            .collect(),
        4 => "\u{1d}\0\"\\<script>".into(),
        _ => (0..rng.random_range(1..12))
            .map(|_| char::from(rng.random_range(b'0'..=b'z')))
            .collect(),
    }
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    let pick = if depth == 0 {
        rng.random_range(0..5)
    } else {
        rng.random_range(0..7)
    };
    match pick {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => match rng.random_range(0..4) {
            0 => json!(rng.random::<i64>()),
            1 => json!(rng.random::<f64>() * 1e300),
            2 => json!(-1),
            _ => json!(u64::MAX),
        },
        3 | 4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..5))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut object = Map::new();
            for _ in 0..rng.random_range(0..5) {
                let key = if rng.random_bool(0.8) {
                    KEYS[rng.random_range(0..KEYS.len())].to_owned()
                } else {
                    random_string(rng)
                };
                object.insert(key, random_json(rng, depth - 1));
            }
            Value::Object(object)
        }
    }
}

fn random_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..4) {
        0 => (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect(),
        1 => {
            let mut text = random_json(rng, 3).to_string().into_bytes();
            // Cut JSON half-way now and then.
            let keep = rng.random_range(0..=text.len());
            text.truncate(keep);
            text
        }
        _ => random_json(rng, 4).to_string().into_bytes(),
    }
}

fn random_query(rng: &mut StdRng) -> String {
    if rng.random_bool(0.5) {
        return String::new();
    }
    let pairs: Vec<String> = (0..rng.random_range(1..4))
        .map(|_| {
            let key = KEYS[rng.random_range(0..KEYS.len())];
            let value: String = random_string(rng)
                .bytes()
                .map(|byte| format!("%{byte:02X}"))
                .collect();
            format!("{key}={value}")
        })
        .collect();
    format!("?{}", pairs.join("&"))
}

/// One request on its own connection, raw HTTP/1.1; (status, content type, body). Panics on a
/// hang (10 s) or an unanswered request.
async fn send(address: &str, head: String, body: &[u8]) -> (u16, String, Vec<u8>) {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer within 10 s to {head:?}"));
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer to {head:?}: {answer:?}"));
    let header = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = header
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {header:?}"));
    let content_type = header
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, answer[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_queries_and_bytes_never_get_a_5xx_a_non_json_error_or_a_hang() {
    let cases = std::env::var("ZNAK_RANDOM_INPUT_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(600u32);
    let seed = std::env::var("ZNAK_RANDOM_INPUT_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("{cases} cases, seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let operator = FakeOperator::start().await;
    operator.fill(50);
    let dir = tempfile::tempdir().unwrap();
    let module = Module::open(config(dir.path(), &operator), ManualClock::at(T0));
    module.init(init_request()).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let mut state = ApiState::new(module.clone(), Auth::new(None, vec![]));
    state.request_timeout = Duration::from_secs(3);
    // Wrong credentials are sent on purpose; the throttle (429) has its own tests and would
    // otherwise answer most cases here.
    state.throttle = AuthThrottle::new(ThrottlePolicy {
        allowed_failures: 100_000,
        forgive_every: Duration::from_millis(1),
    });
    let server = tokio::spawn(run_module(
        Arc::new(state),
        ServeConfig {
            max_connections: 64,
            header_timeout: Duration::from_secs(2),
        },
        listener,
        shutdown.clone(),
    ));
    tokio::time::timeout(
        Duration::from_secs(20),
        module.wait_until(|s| s.status == Status::Ready),
    )
    .await
    .expect("ready");

    let table = routes::<Module>();
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let content_types = [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ];
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for case in 0..cases {
        let route = &table[rng.random_range(0..table.len())];
        let method = if rng.random_bool(0.8) {
            route.methods[rng.random_range(0..route.methods.len())]
        } else {
            methods[rng.random_range(0..methods.len())]
        };
        let body = random_body(&mut rng);
        let query = random_query(&mut rng);
        let content_type = content_types[rng.random_range(0..content_types.len())];
        let auth = match rng.random_range(0..10) {
            0 => "",
            1 => "Authorization: Basic Z2FyYmFnZQ==\r\n",
            2 => "Authorization: Token not-a-uuid\r\n",
            _ => "Authorization: Basic YWRtaW46YWRtaW4=\r\n",
        };
        let content_type = if content_type.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {content_type}\r\n")
        };
        let head = format!(
            "{method} {}{query} HTTP/1.1\r\nHost: x\r\n{auth}{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
            route.path,
            body.len()
        );
        let context = format!(
            "case {case} (seed {seed}): {head:?} body {:?}",
            String::from_utf8_lossy(&body)
        );
        let (status, kind, answer) = send(&address, head, &body).await;
        *statuses.entry(status).or_default() += 1;
        // A random token reaching the operator is refused there: 400, the caller's mistake.
        assert!(
            status < 500,
            "{context}: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            !answer.is_empty() || status == 204,
            "{context}: {status} with an empty body"
        );
        // Every error is JSON; so is every answer of the JSON API.
        let json_route = route.path.starts_with("/api/") || route.path.starts_with("/admin/api/");
        if status >= 400 || json_route {
            assert!(
                kind.starts_with("application/json"),
                "{context}: {status} {kind}"
            );
            serde_json::from_slice::<Value>(&answer)
                .unwrap_or_else(|err| panic!("{context}: {status} body is not JSON ({err})"));
        }
    }

    // Raw garbage instead of a request: an answer (400) or a closed connection, never a hang.
    for _ in 0..cases / 10 {
        let garbage: Vec<u8> = (0..rng.random_range(1..200))
            .map(|_| rng.random())
            .collect();
        let exchange = async {
            let mut stream = TcpStream::connect(&address).await.unwrap();
            let _ = stream.write_all(&garbage).await;
            let _ = stream.write_all(b"\r\n\r\n").await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            answer
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .unwrap_or_else(|_| panic!("garbage {garbage:?} hung the connection"));
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 4"),
            "garbage {garbage:?} got {text:?}"
        );
    }
    println!("statuses: {statuses:?}");
    // The module still answers normally afterwards.
    let (status, _, _) = send(
        &address,
        "GET /api/v2/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
