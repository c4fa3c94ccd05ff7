//! `init` when registration fails: a token the operator refuses is the caller's mistake (400
//! naming the token); an operator that cannot be reached or fails is 502.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{FAST, start_emulator, start_lm};

#[tokio::test]
async fn a_token_the_operator_refuses_is_400_naming_the_token() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    for path in ["/api/v2/init", "/api/v1/init"] {
        let (status, body) = lm
            .post(
                path,
                json!({"token": "00000000-0000-0000-0000-000000000000"}),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], 400, "{path}: {body}");
        let description = body["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("refused the participant token") && description.contains("401"),
            "{path}: {description}"
        );
    }
    let (_, status) = lm.get("/api/v2/status").await;
    assert_eq!(status["status"], "not_configured", "{status}");
    // The right token still works afterwards.
    lm.init(&emulator.token, false).await;
}

#[tokio::test]
async fn an_operator_that_cannot_be_reached_or_fails_is_502() {
    // Nothing listens on this port any more.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // A test double of an operator whose registration fails with 503.
    let failing = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let failing_url = format!("http://{}", failing.local_addr().unwrap());
    let app = Router::new().route(
        "/lm/v1/register",
        post(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"code": 503, "description": "maintenance"})),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(failing, app).await });

    for (operator, expected) in [(unreachable, "registration at"), (failing_url, "HTTP 503")] {
        let lm = start_lm(&operator, FAST).await;
        let (status, body) = lm.post("/api/v2/init", json!({"token": "t"})).await;
        assert_eq!(status, 502, "{operator}: {body}");
        assert_eq!(body["code"], 502, "{operator}: {body}");
        let description = body["description"].as_str().unwrap_or_default();
        assert!(description.contains(expected), "{operator}: {description}");
    }
}
