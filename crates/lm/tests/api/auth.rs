//! The auth matrix: which credentials open which routes; 401s carry JSON bodies.

use std::sync::Arc;

use lm::api::{ApiState, Auth, ServeConfig, ServeError, StoredCredentials, serve};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{FakeBackend, admin, assert_error, basic, json_of, start};

const KI: &str = "0104850013000162215aBcDe!";
const TOKEN: &str = "32342f94-39ce-49cf-91ac-db8598c45111";

fn stored_auth() -> Auth {
    let stored = StoredCredentials::new("kassa", "p@ss:word").unwrap();
    Auth::new(Some(stored), vec![Uuid::parse_str(TOKEN).unwrap()])
}

async fn call(
    server: &crate::support::Server<FakeBackend>,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> (u16, serde_json::Value) {
    let body = match path {
        "/api/v2/cis/outCheck" => json!({"cis_list": [{"cis": KI}]}),
        "/api/v2/greyList" => json!({"enableGreyList": false}),
        "/api/v2/init" | "/api/v1/init" => json!({"token": "t"}),
        _ => json!({"cis_list": [KI]}),
    };
    let mut request = match method {
        "GET" => server.http.get(server.url(path)),
        _ => server.http.post(server.url(path)).json(&body),
    };
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    json_of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn matrix_with_stored_credentials_and_a_token() {
    let server = start(FakeBackend::ready(), stored_auth()).await;
    let good = basic("kassa", "p@ss:word");
    let token = format!("Token {TOKEN}");
    let wrong_token = format!("Token {}", Uuid::new_v4());
    let basic_routes = [
        ("POST", "/api/v2/cis/sell"),
        ("POST", "/api/v2/cis/return"),
        ("GET", "/api/v2/cis/sold"),
        ("POST", "/api/v2/greyList"),
        ("POST", "/api/v1/cis/check"),
        ("GET", "/api/v1/cis/check?cis=0104850013000162215aBcDe!"),
    ];
    let token_routes = [
        ("POST", "/api/v2/cis/outCheck"),
        ("POST", "/api/v1/cis/outCheck"),
        ("GET", "/api/v1/cis/outCheck?cis=0104850013000162215aBcDe!"),
    ];
    for (method, path) in basic_routes.iter().chain(&token_routes) {
        for refused in [
            None,
            Some(admin().as_str()),
            Some(basic("kassa", "wrong").as_str()),
            Some(basic("other", "p@ss:word").as_str()),
            Some("Basic !!!notbase64"),
            Some("Bearer abc"),
            Some(wrong_token.as_str()),
            Some("Token not-a-uuid"),
        ] {
            let (status, body) = call(&server, method, path, refused).await;
            assert_error(status, &body, 401);
        }
        let (status, body) = call(&server, method, path, Some(&good)).await;
        assert!(
            status == 200 || status == 201,
            "{method} {path}: {status} {body}"
        );
    }
    for (method, path) in token_routes {
        let (status, body) = call(&server, method, path, Some(&token)).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
    }
    for (method, path) in basic_routes {
        let (status, body) = call(&server, method, path, Some(&token)).await;
        assert_error(status, &body, 401);
        assert!(body["description"].as_str().unwrap().contains("outCheck"));
    }
}

#[tokio::test]
async fn status_needs_no_auth_and_ignores_wrong_auth() {
    let server = start(FakeBackend::ready(), stored_auth()).await;
    for path in ["/api/v1/status", "/api/v2/status"] {
        for authorization in [None, Some("Basic d3Jvbmc6d3Jvbmc="), Some("garbage")] {
            let (status, body) = call(&server, "GET", path, authorization).await;
            assert_eq!(status, 200, "{path} {authorization:?}: {body}");
        }
    }
}

#[tokio::test]
async fn unauthorized_answers_challenge_for_basic() {
    let server = start(FakeBackend::ready(), stored_auth()).await;
    let response = server
        .http
        .post(server.url("/api/v2/cis/sell"))
        .json(&json!({"cis_list": [KI]}))
        .send()
        .await
        .unwrap();
    let challenge = response.headers().get("www-authenticate").cloned();
    assert!(challenge.unwrap().to_str().unwrap().starts_with("Basic"));
    let (status, body) = json_of(response).await;
    assert_error(status, &body, 401);
}

/// Serves with `auth` on 0.0.0.0:0 and returns what `serve` returned; a server that started
/// instead of refusing fails the test after 10 s rather than running on.
async fn serve_on_every_interface(auth: Auth) -> Result<(), ServeError> {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let state = Arc::new(ApiState::new(FakeBackend::ready(), auth));
    let serving = serve(
        state,
        listener,
        ServeConfig::default(),
        CancellationToken::new(),
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("serve started instead of refusing")
}

#[tokio::test]
async fn default_admin_works_on_loopback_only() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let (status, _) = call(&server, "POST", "/api/v2/cis/sell", Some(&admin())).await;
    assert_eq!(status, 201);
    let (status, body) = call(
        &server,
        "POST",
        "/api/v2/cis/sell",
        Some(&basic("admin", "x")),
    )
    .await;
    assert_error(status, &body, 401);

    // Bound to every interface (no traffic is sent): refused before serving anything.
    let err = serve_on_every_interface(Auth::new(None, vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::DefaultCredentialsOffLoopback(_)));
    assert!(err.to_string().contains("znak lm passwd"), "{err}");

    // With stored credentials the same bind is allowed (shut down at once).
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let state = Arc::new(ApiState::new(FakeBackend::ready(), stored_auth()));
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    serve(state, listener, ServeConfig::default(), shutdown)
        .await
        .unwrap();
}

/// `admin`/`admin` written into credentials.toml (by hand, an old version or the library) is
/// still the factory login: it opens no listener off loopback either.
#[tokio::test]
async fn stored_admin_admin_is_still_the_factory_login() {
    let written = StoredCredentials::new("admin", "admin").unwrap();
    let auth = Auth::new(Some(written), vec![]);
    assert!(auth.is_default());
    assert!(matches!(
        serve_on_every_interface(auth).await.unwrap_err(),
        ServeError::DefaultCredentialsOffLoopback(_)
    ));

    // Another password for `admin`, or `admin` as another login's password, is not.
    let other = StoredCredentials::new("admin", "long enough secret").unwrap();
    assert!(!Auth::new(Some(other), vec![]).is_default());
    let other = StoredCredentials::new("kassa", "admin").unwrap();
    assert!(!Auth::new(Some(other), vec![]).is_default());

    // Changing the login at run time follows the same rule.
    let auth = Auth::new(None, vec![]);
    auth.change("kassa", "long enough secret").await.unwrap();
    assert!(!auth.is_default());
    auth.change("admin", "admin").await.unwrap();
    assert!(auth.is_default());
}

/// The guide's curl example writes the token with a hyphen missing
/// (`32342f94-39ce-49cf91ac-db8598c45111`): the same 32 hex digits are the same token.
#[tokio::test]
async fn a_token_is_its_hex_digits_wherever_the_hyphens_are() {
    let server = start(FakeBackend::ready(), stored_auth()).await;
    for (written, status) in [
        ("32342f94-39ce-49cf91ac-db8598c45111", 200),
        ("32342f9439ce49cf91acdb8598c45111", 200),
        ("32342F94-39CE-49CF-91AC-DB8598C45111", 200),
        ("32342f94-39ce-49cf91ac-db8598c45112", 401),
        ("32342f94-39ce-49cf91ac-db8598c4511", 401),
    ] {
        let authorization = format!("Token {written}");
        let (got, body) = call(
            &server,
            "POST",
            "/api/v2/cis/outCheck",
            Some(&authorization),
        )
        .await;
        assert_eq!(got, status, "{written}: {body}");
    }
}
