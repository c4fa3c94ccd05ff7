//! Every bad request gets the right 4xx/5xx and a JSON `{"code", "description"}` body.

use std::time::Duration;

use lm::api::Auth;
use protocol::lm::ModuleState;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{FakeBackend, admin, assert_error, json_of, start};

const KI: &str = "0104850013000162215aBcDe!";

#[tokio::test]
async fn unknown_route_is_404_json() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    for path in [
        "/index.html",
        "/api/v3/status",
        "/api/v2/cis/nothing",
        "/favicon.ico",
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        let (status, body) = json_of(response).await;
        assert_error(status, &body, 404);
    }
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let cases = [
        (reqwest::Method::GET, "/api/v2/cis/outCheck"),
        (reqwest::Method::POST, "/api/v2/status"),
        (reqwest::Method::DELETE, "/api/v2/cis/sold"),
        (reqwest::Method::PUT, "/api/v1/cis/check"),
    ];
    for (method, path) in cases {
        let response = server
            .http
            .request(method.clone(), server.url(path))
            .header("Authorization", admin())
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_error(status, &body, 405);
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .contains(method.as_str())
        );
    }
}

async fn post_raw(
    server_url: &str,
    http: &reqwest::Client,
    body: &'static str,
) -> (u16, serde_json::Value) {
    let response = http
        .post(server_url)
        .header("Authorization", admin())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400_naming_the_problem() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let cases: [(&str, &str, &str); 9] = [
        ("/api/v2/cis/outCheck", "{\"cis_list\": [", "not valid JSON"),
        ("/api/v2/cis/outCheck", "", "empty"),
        (
            "/api/v2/cis/outCheck",
            "{\"cis_list\": \"x\"}",
            "must be an array",
        ),
        (
            "/api/v2/cis/outCheck",
            "{\"cis_list\": [{\"cis\": 5}]}",
            "cis_list[0]",
        ),
        ("/api/v2/cis/outCheck", "{\"cis_list\": []}", "empty"),
        ("/api/v1/cis/outCheck", "[1, 2]", "JSON object"),
        (
            "/api/v2/cis/sell",
            "{\"cis_list\": [\"not a code\"]}",
            "cis_list[0]",
        ),
        ("/api/v2/init", "{\"token\": 5}", "wrong type"),
        ("/api/v2/greyList", "{}", "enableGreyList"),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = post_raw(&server.url(path), &server.http, body).await;
        assert_error(status, &answer, 400);
        let description = answer["description"].as_str().unwrap();
        assert!(
            description.contains(expected),
            "{path} {body}: {description}"
        );
    }
}

/// serde reads a JSON array as a struct's fields in order (`["tok"]` as `{"token": "tok"}`):
/// every route with a JSON body refuses anything but an object, naming the object expected.
#[tokio::test]
async fn every_json_body_route_refuses_a_non_object_naming_the_expected_object() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut routes = 0;
    for route in lm::api::routes::routes::<FakeBackend>() {
        for op in &route.ops {
            // The sold DB import also takes CSV and, by design, a bare JSON list of entries.
            let json_only = !op.body.is_empty()
                && op
                    .body
                    .iter()
                    .all(|payload| matches!(payload, lm::api::openapi::Payload::Json(_)));
            if !json_only {
                continue;
            }
            routes += 1;
            for (body, got) in [
                ("[\"tok\", \"x\"]", "an array"),
                ("[true]", "an array"),
                ("\"tok\"", "a string"),
                ("7", "a number"),
                ("null", "null"),
            ] {
                let (status, answer) = post_raw(&server.url(route.path), &server.http, body).await;
                assert_error(status, &answer, 400);
                let description = answer["description"].as_str().unwrap();
                assert!(
                    description.contains("must be a JSON object {\"") && description.ends_with(got),
                    "{} {body}: {description}",
                    route.path
                );
            }
        }
    }
    // init, greyList, outCheck v1/v2, check v1, sell, return, credentials.
    assert!(routes >= 8, "only {routes} JSON body routes found");
    let (status, answer) = post_raw(&server.url("/api/v2/init"), &server.http, "[\"tok\"]").await;
    assert_error(status, &answer, 400);
    assert!(
        answer["description"]
            .as_str()
            .unwrap()
            .contains("\"token\"")
    );
    // ["tok", "x"] sent to /admin/api/credentials changed nothing: the old login still works.
    let response = server
        .http
        .get(server.url("/api/v2/cis/sold"))
        .header("Authorization", admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn more_than_1000_kis_is_400() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let list: Vec<_> = (0..1001).map(|_| json!({"cis": KI})).collect();
    let response = server
        .http
        .post(server.url("/api/v2/cis/outCheck"))
        .header("Authorization", admin())
        .json(&json!({"cis_list": list}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 400);
    assert!(body["description"].as_str().unwrap().contains("1000"));
    let ok: Vec<_> = (0..1000).map(|_| json!({"cis": KI})).collect();
    let response = server
        .http
        .post(server.url("/api/v2/cis/outCheck"))
        .header("Authorization", admin())
        .json(&json!({"cis_list": ok}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn bodies_over_1_mib_are_413_declared_or_chunked() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let big = format!("{{\"cis_list\": [\"{}\"]}}", "a".repeat(1024 * 1024 + 1));
    let response = server
        .http
        .post(server.url("/api/v2/cis/outCheck"))
        .header("Authorization", admin())
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 413);
    // The same without a declared length: chunked transfer, refused once past the limit.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v2/cis/sell HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        admin()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(64 * 1024) {
        let frame = format!("{:x}\r\n", chunk.len());
        if stream.write_all(frame.as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let (status, body) = read_response(&mut stream).await;
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_error(status, &body, 413);
}

/// Reads one HTTP response off a raw socket: (status, body).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    let text = String::from_utf8_lossy(&buffer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test]
async fn a_body_that_never_arrives_is_408_json() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"cis_list\"",
        admin()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut stream).await;
    assert_eq!(status, 408);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_error(status, &body, 408);
}

#[tokio::test]
async fn a_head_that_never_ends_is_408_json_then_closed() {
    // quick_serve_config: a head may take 500 ms.
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /api/v2/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    // read_to_end returns only once the server has closed the connection.
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buffer))
        .await
        .expect("the server kept a half-sent request open")
        .unwrap();
    let text = String::from_utf8(buffer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(head.contains("content-type: application/json"), "{text}");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    assert_error(408, &body, 408);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_an_answer() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // One whole request on a keep-alive connection, then nothing.
    stream
        .write_all(b"GET /api/v2/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buffer))
        .await
        .expect("the server kept an idle connection open")
        .unwrap();
    let text = String::from_utf8(buffer).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "a second answer: {text}"
    );
    // A connection that never sends a byte is closed with no answer at all.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut nothing = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), silent.read_to_end(&mut nothing))
        .await
        .expect("the server kept a silent connection open")
        .unwrap();
    assert!(
        nothing.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&nothing)
    );
}

#[tokio::test]
async fn garbage_instead_of_http_is_answered_400_not_hung() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"\x16\x03\x01 hello\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_response(&mut stream).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn not_ready_is_400_with_error_code() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let cases = [
        (ModuleState::NotConfigured, Some(4045), 400),
        (ModuleState::Initialization, Some(4045), 400),
        (ModuleState::SyncError, Some(4050), 400),
        (ModuleState::Failure, Some(4045), 400),
    ];
    for (state, error_code, http) in cases {
        server.state.backend.set_state(state.clone());
        for (path, body) in [
            ("/api/v2/cis/outCheck", json!({"cis_list": [{"cis": KI}]})),
            ("/api/v1/cis/outCheck", json!({"cis_list": [KI]})),
            ("/api/v1/cis/check", json!({"cis_list": [KI]})),
        ] {
            let response = server
                .http
                .post(server.url(path))
                .header("Authorization", admin())
                .json(&body)
                .send()
                .await
                .unwrap();
            let (status, answer) = json_of(response).await;
            assert_error(status, &answer, http);
            assert_eq!(
                answer.get("errorCode").and_then(|c| c.as_u64()),
                error_code,
                "{state:?} {path}"
            );
        }
        let response = server
            .http
            .get(server.url(&format!("/api/v1/cis/outCheck?cis={KI}")))
            .header("Authorization", admin())
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(response).await;
        assert_error(status, &answer, http);
        assert_eq!(
            answer.get("errorCode").and_then(|c| c.as_u64()),
            error_code,
            "{state:?} GET /api/v1/cis/outCheck"
        );
    }
}

#[tokio::test]
async fn a_panic_below_the_api_is_500_json_and_the_server_lives_on() {
    let backend = FakeBackend {
        panic_on: Some(KI.to_owned()),
        ..FakeBackend::ready()
    };
    let server = start(backend, Auth::new(None, vec![])).await;
    let response = server
        .http
        .post(server.url("/api/v2/cis/outCheck"))
        .header("Authorization", admin())
        .json(&json!({"cis_list": [{"cis": KI}]}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 500);
    let response = server
        .http
        .get(server.url("/api/v2/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn sold_query_errors() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    for (query, expected) in [
        ("limit=1001", "over the maximum"),
        ("skip=-1", "non-negative"),
        ("limit=abc", "non-negative"),
        ("page=2", "unknown query parameter"),
    ] {
        let response = server
            .http
            .get(server.url(&format!("/api/v2/cis/sold?{query}")))
            .header("Authorization", admin())
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_error(status, &body, 400);
        assert!(
            body["description"].as_str().unwrap().contains(expected),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn shutdown_stops_listening_and_closes_idle_keep_alive_connections() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let addr = server.addr;
    let response = server
        .http
        .get(server.url("/api/v2/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // The client keeps that connection alive; stop() must not wait for it forever.
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("shutdown finished");
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}
